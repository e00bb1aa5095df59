from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access.tokens import TokenRefused, decode_token, identity_from_header, issue_token
from core.identity import Identity

KEY = "k" * 40
IDENTITY = Identity(user_id=3, workspace_id=2)


def test_a_token_names_its_user_and_workspace() -> None:
    token = issue_token(IDENTITY, KEY, timedelta(hours=1))
    assert identity_from_header(f"Bearer {token}", KEY) == IDENTITY


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "required"),
        ("", "required"),
        ("Basic dXNlcjpwYXNz", "Bearer"),
        ("Bearer not-a-jwt", "not valid"),
    ],
)
def test_bad_headers_are_refused(header: str | None, problem: str) -> None:
    with pytest.raises(TokenRefused, match=problem):
        identity_from_header(header, KEY)


def test_an_expired_token_is_refused() -> None:
    issued = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(IDENTITY, KEY, timedelta(hours=1), now=issued)
    with pytest.raises(TokenRefused, match="expired"):
        decode_token(token, KEY)


def test_a_token_signed_by_another_key_is_refused() -> None:
    token = issue_token(IDENTITY, "other" * 8, timedelta(hours=1))
    with pytest.raises(TokenRefused, match="not valid"):
        decode_token(token, KEY)

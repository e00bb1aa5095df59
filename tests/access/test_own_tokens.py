"""Switchboard's own tokens, read through the authenticator as every request reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from access.authentication import Authenticator
from access.provisioning import Provisioner
from access.tokens import MAX_TOKEN_LENGTH, OWN_ISSUER, TokenRefused, decode_token, issue_token
from core.identity import Identity

KEY = "k" * 40
IDENTITY = Identity(user_id=3, workspace_id=2)
AUTHENTICATOR = Authenticator(KEY, None, Provisioner())


async def test_a_token_names_its_user_and_workspace() -> None:
    token = issue_token(IDENTITY, KEY, timedelta(hours=1))
    assert jwt.decode(token, KEY, algorithms=["HS256"])["iss"] == OWN_ISSUER
    assert await AUTHENTICATOR.identity(f"Bearer {token}") == IDENTITY


async def test_a_token_issued_before_iss_was_added_still_works() -> None:
    claims = {"sub": "3", "workspace": 2, "exp": datetime.now(UTC) + timedelta(hours=1)}
    token = jwt.encode(claims, KEY, algorithm="HS256")
    assert await AUTHENTICATOR.identity(f"bearer {token}") == IDENTITY


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, "required"),
        ("", "required"),
        ("Basic dXNlcjpwYXNz", "Bearer"),
        ("Bearer not-a-jwt", "not valid"),
        ("Bearer " + "a" * (MAX_TOKEN_LENGTH + 1), "longer than"),
    ],
)
async def test_bad_headers_are_refused(header: str | None, problem: str) -> None:
    with pytest.raises(TokenRefused, match=problem):
        await AUTHENTICATOR.identity(header)


def test_an_expired_token_is_refused() -> None:
    issued = datetime.now(UTC) - timedelta(hours=2)
    token = issue_token(IDENTITY, KEY, timedelta(hours=1), now=issued)
    with pytest.raises(TokenRefused, match="expired"):
        decode_token(token, KEY)


def test_a_token_signed_by_another_key_is_refused() -> None:
    token = issue_token(IDENTITY, "other" * 8, timedelta(hours=1))
    with pytest.raises(TokenRefused, match="not valid"):
        decode_token(token, KEY)


def test_a_token_signed_with_our_key_for_another_issuer_is_refused() -> None:
    claims = {
        "iss": "https://crm.example.com",
        "sub": "3",
        "workspace": 2,
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    with pytest.raises(TokenRefused, match="issuer"):
        decode_token(jwt.encode(claims, KEY, algorithm="HS256"), KEY)

"""Page arguments and offset cursors, without a database."""

from __future__ import annotations

import base64

import pytest

from core.cursors import MAX_OFFSET, CursorCodec, ViewerCursors
from core.errors import BadUserInput
from core.pages import validate_first


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(("first", "expected"), [(None, 20), (1, 1), (37, 37), (100, 100)])
def test_first_from_1_to_100_is_accepted(first: int | None, expected: int) -> None:
    assert validate_first(first, default=20) == expected


@pytest.mark.parametrize("first", [0, -1, 101, 10**9])
def test_first_outside_1_to_100_is_bad_input(first: int) -> None:
    with pytest.raises(BadUserInput) as raised:
        validate_first(first, default=20)
    assert raised.value.extensions["code"] == "BAD_USER_INPUT"


def test_a_smaller_maximum_is_enforced() -> None:
    assert validate_first(10, default=5, maximum=10) == 10
    with pytest.raises(BadUserInput):
        validate_first(11, default=5, maximum=10)


CURSORS = ViewerCursors(CursorCodec("pagination-test-key-0123456789abcdef"), viewer_id=7)


def sealed(payload: str, list_key: str = "contacts", viewer_id: int = 7) -> str:
    return CursorCodec("pagination-test-key-0123456789abcdef").seal(viewer_id, list_key, payload)


@pytest.mark.parametrize("offset", [0, 1, 99, MAX_OFFSET])
def test_an_offset_cursor_decodes_to_its_offset(offset: int) -> None:
    cursor = CURSORS.offset("contacts", offset)
    assert CURSORS.read_offset("contacts", cursor) == offset
    assert CURSORS.start_offset("contacts", cursor) == offset + 1


def test_no_cursor_starts_the_list() -> None:
    assert CURSORS.start_offset("contacts", None) == 0


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage", id="not base64"),
        pytest.param("", id="empty"),
        pytest.param(CURSORS.offset("companies", 3), id="another list's cursor"),
        pytest.param(sealed("3", viewer_id=8), id="another viewer's cursor"),
        pytest.param(CURSORS.offset("contacts", 3)[:-2] + "AA", id="altered seal"),
        pytest.param(forged("offset:contacts:3"), id="unsealed, as cursors once were"),
        pytest.param(sealed(""), id="empty offset"),
        pytest.param(sealed("-1"), id="negative"),
        pytest.param(sealed("3x"), id="not a number"),
        pytest.param(sealed("١٢"), id="non-ASCII digits"),
        pytest.param(sealed(str(MAX_OFFSET + 1)), id="beyond any list"),
        pytest.param(forged("Contact:3"), id="a global id"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not UTF-8"),
        pytest.param("é" * 600, id="too long"),
    ],
)
def test_a_cursor_not_issued_for_the_list_is_bad_input(cursor: str) -> None:
    with pytest.raises(BadUserInput) as raised:
        CURSORS.read_offset("contacts", cursor)
    assert raised.value.extensions == {
        "code": "BAD_USER_INPUT",
        "argument": "after",
        "reason": "CURSOR_INVALID",
    }

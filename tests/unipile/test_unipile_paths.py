"""Ids cannot steer a call to another endpoint: each is checked, then sent as one path segment."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from unipile import InvalidIdError, NotFoundError, UnipileClient, is_valid_id
from unipile._paths import MAX_ID_LENGTH, path_segment

Call = Callable[[UnipileClient, str], Awaitable[object]]

# Each client method that puts an id in a path, with the one sandbox route it may reach.
CALLS: dict[str, tuple[Call, str]] = {
    "get_account": (lambda c, id_: c.get_account(id_), "GET /api/v1/accounts/{account_id}"),
    "delete_account": (
        lambda c, id_: c.delete_account(id_),
        "DELETE /api/v1/accounts/{account_id}",
    ),
    "get_chat": (lambda c, id_: c.get_chat(id_), "GET /api/v1/chats/{chat_id}"),
    "list_chat_messages": (
        lambda c, id_: c.list_chat_messages(id_),
        "GET /api/v1/chats/{chat_id}/messages",
    ),
    "list_chat_attendees": (
        lambda c, id_: c.list_chat_attendees(id_),
        "GET /api/v1/chats/{chat_id}/attendees",
    ),
    "get_message": (lambda c, id_: c.get_message(id_), "GET /api/v1/messages/{message_id}"),
    "send_chat_message": (
        lambda c, id_: c.send_chat_message(id_, text="hi"),
        "POST /api/v1/chats/{chat_id}/messages",
    ),
    "set_chat_read": (
        lambda c, id_: c.set_chat_read(id_, read=True),
        "PATCH /api/v1/chats/{chat_id}",
    ),
    "get_email": (lambda c, id_: c.get_email(id_), "GET /api/v1/emails/{email_id}"),
    "set_email_read": (
        lambda c, id_: c.set_email_read(id_, read=True),
        "PUT /api/v1/emails/{email_id}",
    ),
    "delete_webhook": (
        lambda c, id_: c.delete_webhook(id_),
        "DELETE /api/v1/webhooks/{webhook_id}",
    ),
}

# Refused by the client: nothing reaches the wire.
REFUSED = (
    "../webhooks",
    "..",
    ".",
    "a/../../webhooks",
    "abc\u0000",
    "a\r\nX-Injected: 1",
    "x" * 10_000,
)
# Valid, if odd: sent encoded, so they reach the method's own route and name nothing there.
ENCODED = ("x?account_id=acc_other", "x#frag", "%2e%2e")


def test_every_method_that_takes_an_id_is_covered() -> None:
    def takes_an_id(method: Callable[..., Any]) -> bool:
        positional = [
            parameter
            for parameter in inspect.signature(method).parameters.values()
            if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        return any(parameter.name.endswith("_id") for parameter in positional)

    methods = inspect.getmembers(UnipileClient, inspect.iscoroutinefunction)
    public = {name for name, method in methods if not name.startswith("_") and takes_an_id(method)}
    assert public == set(CALLS)


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("chat_123", "chat_123"),
        ("AbC-._~9", "AbC-._~9"),
        ("...", "..."),
        (".hidden", ".hidden"),
        ("a/b", "a%2Fb"),
        ("x?account_id=acc_other", "x%3Faccount_id%3Dacc_other"),
        ("x#frag", "x%23frag"),
        ("%2e%2e", "%252e%252e"),
        ("a b+c&d", "a%20b%2Bc%26d"),
        ("33612345678@s.whatsapp.net", "33612345678%40s.whatsapp.net"),
        ("<CAF1234@mail.gmail.com>", "%3CCAF1234%40mail.gmail.com%3E"),
        ("AAMkAGI2=/+x", "AAMkAGI2%3D%2F%2Bx"),
        ("é", "%C3%A9"),
        ("x" * MAX_ID_LENGTH, "x" * MAX_ID_LENGTH),
    ],
)
def test_a_valid_id_becomes_one_encoded_segment(value: str, segment: str) -> None:
    assert is_valid_id(value)
    assert path_segment(value) == segment


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "..",
        "../webhooks",
        "a/../../webhooks",
        "a/./b",
        "a/..",
        "x" * (MAX_ID_LENGTH + 1),
        "abc\u0000",
        "a\r\nX-Injected: 1",
        "a\nb",
        "tab\there",
        "del\u007f",
        "c1\u0085",
    ],
)
def test_an_id_that_cannot_name_an_object_is_refused(value: str) -> None:
    assert not is_valid_id(value)
    with pytest.raises(InvalidIdError) as raised:
        path_segment(value)
    assert isinstance(raised.value, NotFoundError) and raised.value.status is None


async def stats(admin: httpx.AsyncClient) -> dict[str, Any]:
    response = await admin.get("/_sandbox/stats")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_a_hostile_id_is_refused_before_any_request(
    client: UnipileClient, admin: httpx.AsyncClient, method: str
) -> None:
    call, _ = CALLS[method]
    for value in REFUSED:
        with pytest.raises(InvalidIdError):
            await call(client, value)
    assert (await stats(admin))["total"] == 0


@pytest.mark.parametrize("method", sorted(CALLS))
async def test_an_odd_id_reaches_only_the_methods_own_route(
    client: UnipileClient, admin: httpx.AsyncClient, method: str
) -> None:
    call, route = CALLS[method]
    for value in ENCODED:
        with pytest.raises(NotFoundError) as raised:
            await call(client, value)
        assert not isinstance(raised.value, InvalidIdError) and raised.value.status == 404
    assert (await stats(admin))["requests"] == {route: len(ENCODED)}

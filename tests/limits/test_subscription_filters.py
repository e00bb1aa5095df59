"""A subscription's filter is checked like a query's: bounded, its ids of the type they name, and
refused with BAD_USER_INPUT naming the field, on a socket that serves on."""

from __future__ import annotations

import pytest

from core.ids import to_global_id
from tests.graphql_ws import LEGACY_WS, TRANSPORT_WS, connect, receive_json, start
from tests.limits.conftest import Served

UPDATES = """subscription($filter: SubscriptionFilter) {
  conversationUpdated(filter: $filter) { conversationId change } }"""


@pytest.mark.parametrize(
    ("given", "argument"),
    [
        ({"conversationId": "Q" * 5_120_000}, "filter.conversationId"),
        ({"accountIds": ["QWNjb3VudDox"] * 100_000}, "filter.accountIds"),
        ({"conversationId": "Q29udmVyc2F0aW9uOjE6YQ==\u0000"}, "filter.conversationId"),
        ({"conversationId": "not-an-id"}, "filter.conversationId"),
        ({"conversationId": to_global_id("Contact", 1)}, "filter.conversationId"),
        ({"conversationId": to_global_id("Conversation", "1:../chats")}, "filter.conversationId"),
    ],
    ids=[
        "an id 10,000 times too long",
        "100,000 account ids",
        "a NUL in an id",
        "not an id",
        "a contact's id",
        "a path-like conversation key",
    ],
)
@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_bad_subscription_filter_is_a_bad_user_input_and_the_socket_serves_on(
    served: Served, protocol: str, given: dict[str, object], argument: str
) -> None:
    async with connect(served.url, served.tokens["alice"], protocol) as socket:
        await start(socket, protocol, "bad", UPDATES, {"filter": given})
        message = await receive_json(socket, seconds=30)
        assert message["type"] in ("next", "data", "error"), message
        payload = message["payload"]
        errors = payload.get("errors", []) if isinstance(payload, dict) else payload
        [error] = errors
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert error["extensions"]["argument"] == argument, error
        await start(socket, protocol, "small", "{ viewer { user { email } } }")
        while (message := await receive_json(socket))["type"] not in ("next", "data"):
            pass
        assert message["payload"]["data"]["viewer"]["user"]["email"].startswith("alice@")

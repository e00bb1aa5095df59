"""Subscriptions shared by the sockets of one viewer: one execution per event, each socket's own
frame, and never another viewer's result. Real WebSocket clients against the served app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

import schema.subscription
from access.tokens import issue_token
from core.identity import Identity
from db.models import User, Workspace
from resolvers.context import Context
from resolvers.subscriptions import EventFilter, MessageDelivery
from server.graphql import encoded_message
from tests.graphql_ws import LEGACY_WS, SUBSCRIBED_GRACE, TRANSPORT_WS, connect, start
from tests.inbox.conftest import SIGNING_KEY, Inbox
from tests.inbox.test_live_messages import WHATSAPP, a_chat_of, register

DOCUMENT = """
subscription { messageReceived {
  message { text direction }
  conversation { externalId account { externalId isMine shared } }
} }
"""


async def raw_frame(socket: ClientConnection, seconds: float = 10.0) -> str:
    """The next result's frame as sent."""
    while True:
        frame = await asyncio.wait_for(socket.recv(), seconds)
        assert isinstance(frame, str)
        if json.loads(frame)["type"] in ("next", "data"):
            return frame


async def nothing_within(socket: ClientConnection, seconds: float) -> bool:
    try:
        await raw_frame(socket, seconds)
    except TimeoutError:
        return True
    return False


class Sockets:
    """Subscribed sockets, closed together."""

    def __init__(self, stack: AsyncExitStack, inbox: Inbox) -> None:
        self.stack, self.inbox = stack, inbox

    async def open(
        self, token: str, operation_id: str, protocol: str = TRANSPORT_WS
    ) -> ClientConnection:
        socket = await self.stack.enter_async_context(connect(self.inbox.url, token, protocol))
        await start(socket, protocol, operation_id, DOCUMENT)
        return socket


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[MessageDelivery]:
    """Every event the `messageReceived` resolver yields, whichever socket runs it."""
    seen: list[MessageDelivery] = []
    original = schema.subscription.messages_received

    async def counted(context: Context, wanted: EventFilter) -> AsyncIterator[MessageDelivery]:
        async for delivery in original(context, wanted):
            seen.append(delivery)
            yield delivery

    monkeypatch.setattr(schema.subscription, "messages_received", counted)
    return seen


async def post_message(inbox: Inbox, account: str, chat_id: str, text: str) -> None:
    response = await inbox.sandbox_post(
        "/_sandbox/messages", {"account_id": account, "chat_id": chat_id, "text": text}
    )
    assert response.status_code == 201


def frame_of(protocol: str, operation_id: str, payload: dict[str, Any]) -> bytes:
    """The frame Strawberry's handler would send for this payload (orjson keeps key order)."""
    if protocol == TRANSPORT_WS:
        return orjson.dumps({"id": operation_id, "type": "next", "payload": payload})
    return orjson.dumps({"type": "data", "id": operation_id, "payload": payload})


async def test_sockets_of_one_viewer_share_one_execution_and_get_their_own_frames(
    inbox: Inbox, executions: list[MessageDelivery]
) -> None:
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    opened = [(TRANSPORT_WS, "a"), (TRANSPORT_WS, "b"), (TRANSPORT_WS, "7"), (LEGACY_WS, "c")]
    async with AsyncExitStack() as stack:
        live = Sockets(stack, inbox)
        subscribed = [
            (protocol, operation_id, await live.open(inbox.tokens["bob"], operation_id, protocol))
            for protocol, operation_id in opened
        ]
        await asyncio.sleep(SUBSCRIBED_GRACE)
        await post_message(inbox, WHATSAPP, chat_id, "to every socket")
        frames = [(p, i, await raw_frame(socket)) for p, i, socket in subscribed]
    payloads = [json.loads(frame)["payload"] for _, _, frame in frames]
    assert payloads[0]["data"]["messageReceived"]["message"]["text"] == "to every socket"
    # The cost report (on in these tests) is the one execution's for every socket.
    assert all(payload == payloads[0] for payload in payloads)
    for (protocol, operation_id, frame), payload in zip(frames, payloads, strict=True):
        assert frame.encode() == frame_of(protocol, operation_id, payload)
    assert len(executions) == 1


async def test_a_subscriber_of_another_workspace_never_receives_the_event(
    inbox: Inbox, executions: list[MessageDelivery]
) -> None:
    rival = await Workspace.create(name="Rival", slug="rival")
    eve = await User.create(workspace=rival, email="eve@rival.test", name="Eve")
    eve_token = issue_token(Identity(eve.id, rival.id), SIGNING_KEY, timedelta(hours=1))
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    async with AsyncExitStack() as stack:
        live = Sockets(stack, inbox)
        theirs = await live.open(eve_token, "1")
        mine = await live.open(inbox.tokens["bob"], "1")
        await asyncio.sleep(SUBSCRIBED_GRACE)
        await post_message(inbox, WHATSAPP, chat_id, "for bob's workspace")
        assert "for bob's workspace" in await raw_frame(mine)
        assert await nothing_within(theirs, 1.5)
    assert len(executions) == 1


async def test_another_viewer_of_the_workspace_gets_their_own_result(inbox: Inbox) -> None:
    await register(inbox)
    linkedin = await inbox.query(
        "query { conversations(first: 20, filter: {channels: [LINKEDIN]}) { edges { node "
        "{ externalId isGroup account { externalId } } } } }",
        user="alice",
    )
    node = next(
        edge["node"]
        for edge in linkedin["data"]["conversations"]["edges"]
        if not edge["node"]["isGroup"]
    )
    whatsapp_chat = await a_chat_of(inbox, WHATSAPP, "bob")
    async with AsyncExitStack() as stack:
        live = Sockets(stack, inbox)
        alice = await live.open(inbox.tokens["alice"], "1")
        bob = await live.open(inbox.tokens["bob"], "1")
        await asyncio.sleep(SUBSCRIBED_GRACE)
        # Alice's account, shared with the workspace: both see it, as whose it is.
        await post_message(inbox, node["account"]["externalId"], node["externalId"], "shared")
        alice_sees = json.loads(await raw_frame(alice))["payload"]["data"]["messageReceived"]
        bob_sees = json.loads(await raw_frame(bob))["payload"]["data"]["messageReceived"]
        assert alice_sees["message"] == bob_sees["message"]
        assert alice_sees["conversation"]["account"]["isMine"] is True
        assert bob_sees["conversation"]["account"]["isMine"] is False
        # Bob's own WhatsApp: Alice, an admin of the same workspace, is not shown it.
        await post_message(inbox, WHATSAPP, whatsapp_chat, "bob's own")
        assert "bob's own" in await raw_frame(bob)
        assert await nothing_within(alice, 1.5)


async def test_a_socket_leaving_leaves_the_others_subscribed(
    inbox: Inbox, executions: list[MessageDelivery]
) -> None:
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    async with AsyncExitStack() as stack:
        live = Sockets(stack, inbox)
        staying = await live.open(inbox.tokens["bob"], "1")
        async with connect(inbox.url, inbox.tokens["bob"]) as leaving:
            await start(leaving, TRANSPORT_WS, "1", DOCUMENT)
            await asyncio.sleep(SUBSCRIBED_GRACE)
            await post_message(inbox, WHATSAPP, chat_id, "first")
            assert "first" in await raw_frame(leaving)
            assert "first" in await raw_frame(staying)
            # This socket's operation ends; the other's goes on.
            await leaving.send(json.dumps({"id": "1", "type": "complete"}))
            await asyncio.sleep(SUBSCRIBED_GRACE)
            await post_message(inbox, WHATSAPP, chat_id, "second")
            assert "second" in await raw_frame(staying)
            assert await nothing_within(leaving, 1.0)
    assert len(executions) == 2


def test_a_shared_payload_is_framed_as_the_whole_message_would_be_encoded() -> None:
    payload = {"data": {"messageReceived": {"message": {"text": 'é "quoted" \u2028 \\ end'}}}}
    for operation_id in ("1", 'a "quoted" id', "é"):
        start = f'{{"id":{orjson.dumps(operation_id).decode()},"type":"next","payload":'
        framed = encoded_message(start, orjson.dumps(payload).decode())
        whole = orjson.dumps({"id": operation_id, "type": "next", "payload": payload})
        assert framed.encode() == whole


FILTERED = """subscription($filter: SubscriptionFilter) {
  messageReceived(filter: $filter) { message { text } } }"""


async def test_a_nan_variable_is_not_taken_for_null_and_joins_no_stream(inbox: Inbox) -> None:
    """A request's JSON may carry `NaN`, which orjson would write as `null`: the socket asking
    with it must get its own coercion error, not the stream of the socket asking with null."""
    async with AsyncExitStack() as stack:
        with_null = await stack.enter_async_context(
            connect(inbox.url, inbox.tokens["bob"], TRANSPORT_WS)
        )
        await start(with_null, TRANSPORT_WS, "null", FILTERED, {"filter": None})
        await asyncio.sleep(SUBSCRIBED_GRACE)
        with_nan = await stack.enter_async_context(
            connect(inbox.url, inbox.tokens["bob"], TRANSPORT_WS)
        )
        await start(with_nan, TRANSPORT_WS, "nan", FILTERED, {"filter": float("nan")})
        answer = json.loads(await asyncio.wait_for(with_nan.recv(), 10))
    assert (answer["type"], answer["id"]) == ("error", "nan"), answer

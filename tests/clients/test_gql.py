"""The Python `gql` client over both subprotocols: a subscription event, a query, and an error
that comes back as an error, on one socket."""

from __future__ import annotations

import asyncio

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.graphql_ws import LEGACY_WS, SUBSCRIBED_GRACE, TRANSPORT_WS
from tests.inbox.conftest import Inbox
from tests.inbox.test_live_messages import WHATSAPP, a_chat_of, register

MESSAGES = gql(
    "subscription { messageReceived { message { text direction } conversation { externalId } } }"
)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_gql_subscribes_queries_and_gets_an_error_as_an_error(
    inbox: Inbox, protocol: str
) -> None:
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    transport = WebsocketsTransport(
        url=inbox.url.replace("http://", "ws://") + "/graphql",
        init_payload={"Authorization": f"Bearer {inbox.tokens['bob']}"},
        subprotocols=[protocol],
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        assert transport.subprotocol == protocol

        events = session.subscribe(MESSAGES)
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(SUBSCRIBED_GRACE)
        response = await inbox.sandbox_post(
            "/_sandbox/messages", {"account_id": WHATSAPP, "chat_id": chat_id, "text": "Hallo!"}
        )
        assert response.status_code == 201
        received = (await asyncio.wait_for(first, 10))["messageReceived"]
        await events.aclose()
        assert received["message"] == {"text": "Hallo!", "direction": "INBOUND"}
        assert received["conversation"]["externalId"] == chat_id

        viewer = await session.execute(gql("{ viewer { user { email } } }"))
        assert viewer == {"viewer": {"user": {"email": "bob@demo.switchboard.test"}}}

        # gql parses before sending, so a syntax error never leaves it: a validation error does.
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(gql("{ viewer { noSuchField } }"))
        assert raised.value.errors is not None
        [error] = raised.value.errors
        assert "noSuchField" in error["message"]
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}

        again = await session.execute(gql("{ viewer { workspace { name } } }"))
        assert again == {"viewer": {"workspace": {"name": "Demo"}}}

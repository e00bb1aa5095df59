"""A real GraphQL-over-WebSocket client for tests (graphql-transport-ws or graphql-ws)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
SUBSCRIBED_GRACE = 0.4


class LiveSubscription:
    def __init__(self, socket: ClientConnection, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol

    async def next(self, seconds: float = 5.0) -> dict[str, Any]:
        """The next result's payload (`data` and maybe `errors`)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), seconds))
            if message["type"] in ("next", "data"):
                payload: dict[str, Any] = message["payload"]
                return payload
            if message["type"] in ("error", "complete", "connection_error"):
                raise AssertionError(f"subscription ended: {message}")

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await self.next(seconds)
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def subscribe(
    base_url: str,
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    protocol: str = TRANSPORT_WS,
) -> AsyncIterator[LiveSubscription]:
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        payload = {} if token is None else {"Authorization": f"Bearer {token}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if ack["type"] != "connection_ack":
            raise ConnectionRefusedError(ack)
        start = "subscribe" if protocol == TRANSPORT_WS else "start"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": start,
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        # The protocol has no acknowledgement of a subscription: give the server a moment to listen.
        await asyncio.sleep(SUBSCRIBED_GRACE)
        yield LiveSubscription(socket, protocol)

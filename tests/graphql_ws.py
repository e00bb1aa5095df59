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


async def receive_json(socket: ClientConnection, seconds: float = 5.0) -> dict[str, Any]:
    """The next message, which must be a text frame: browser clients and `gql` refuse binary."""
    frame = await asyncio.wait_for(socket.recv(), seconds)
    assert isinstance(frame, str), f"a binary frame: {frame!r}"
    message: dict[str, Any] = json.loads(frame)
    return message


class LiveSubscription:
    def __init__(self, socket: ClientConnection, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol

    async def next(self, seconds: float = 5.0) -> dict[str, Any]:
        """The next result's payload (`data` and maybe `errors`)."""
        while True:
            message = await receive_json(self.socket, seconds)
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
async def connect(
    base_url: str, token: str | None, protocol: str = TRANSPORT_WS, origin: str | None = None
) -> AsyncIterator[ClientConnection]:
    """An acknowledged connection (sending `Origin` if given, as a browser does)."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(
        url,
        subprotocols=[protocol],  # type: ignore[list-item]
        origin=origin,  # type: ignore[arg-type]
    ) as socket:
        payload = {} if token is None else {"Authorization": f"Bearer {token}"}
        await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = await receive_json(socket)
        if ack["type"] != "connection_ack":
            raise ConnectionRefusedError(ack)
        yield socket


async def start(
    socket: ClientConnection,
    protocol: str,
    operation_id: str,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> None:
    """Sends an operation: `subscribe` on graphql-transport-ws, `start` on graphql-ws."""
    payload: dict[str, Any] = {"query": query, "variables": variables or {}}
    if operation_name is not None:
        payload["operationName"] = operation_name
    message = {
        "id": operation_id,
        "type": "subscribe" if protocol == TRANSPORT_WS else "start",
        "payload": payload,
    }
    await socket.send(json.dumps(message))


@asynccontextmanager
async def subscribe(
    base_url: str,
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    protocol: str = TRANSPORT_WS,
    origin: str | None = None,
    operation_name: str | None = None,
) -> AsyncIterator[LiveSubscription]:
    async with connect(base_url, token, protocol, origin) as socket:
        await start(socket, protocol, "1", query, variables, operation_name)
        # The protocol has no acknowledgement of a subscription: give the server a moment to listen.
        await asyncio.sleep(SUBSCRIBED_GRACE)
        yield LiveSubscription(socket, protocol)

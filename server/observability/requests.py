"""One log line per HTTP request and WebSocket, each under a request id: the caller's
`X-Request-ID` when it is a sane token, a fresh one otherwise, returned in the response's
`X-Request-ID` header (and the WebSocket's handshake).

What the line holds is chosen, never copied from the request: the method, path, status and
duration, and what the GraphQL endpoint recorded (the operation's name and outcome, the viewer's
and workspace's ids). No header, query string, variable or body is logged: they carry tokens
and messages.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.identity import Identity
from core.request_ids import (
    REQUEST_ID_HEADER,
    accepted_request_id,
    request_id_scope,
)

log = logging.getLogger("switchboard.requests")


@dataclass(slots=True)
class RequestRecord:
    """What the request's handlers learn that its log line reports."""

    operations: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    viewer_id: int | None = None
    workspace_id: int | None = None
    errors_logged: bool = False
    """Whether the schema logged errors of its operations (`schema.schema` does, in one line)."""

    def operation_done(
        self, name: str, outcome: str, identity: Identity | None, *, errors_logged: bool
    ) -> None:
        self.operations.append(name)
        self.outcomes.append(outcome)
        self.errors_logged = self.errors_logged or errors_logged
        self.viewer_is(identity)

    def viewer_is(self, identity: Identity | None) -> None:
        """The viewer the request authenticated as (a WebSocket's, at its `connection_init`)."""
        if identity is not None:
            self.viewer_id = identity.user_id
            self.workspace_id = identity.workspace_id


_current: ContextVar[RequestRecord | None] = ContextVar("switchboard_request", default=None)


def current_request() -> RequestRecord | None:
    return _current.get()


class ObserveRequests:
    """ASGI middleware: the request id, its response header and the request's log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        record = RequestRecord()
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                message.setdefault("headers", [])
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
                status = message.get("status", 101)
            elif kind == "websocket.close" and not status:
                # Closed before the handshake was accepted: the server answers it with a 403.
                status = 403
            await send(message)

        token = _current.set(record)
        try:
            with request_id_scope(request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    log.log(
                        _level(record),
                        "%s %s %s",
                        scope.get("method", "WEBSOCKET"),
                        scope["path"],
                        status or 500,
                        extra={"fields": _line(scope, status, started, record)},
                    )
        finally:
            _current.reset(token)


def _level(record: RequestRecord) -> int:
    """INFO, but DEBUG for a GraphQL request that answered errors: `schema.schema` logs those
    errors in one line already (with this request's id), and a second line would double the log
    of every refused or failing request."""
    return logging.DEBUG if record.errors_logged else logging.INFO


def _line(scope: Scope, status: int, started: float, record: RequestRecord) -> dict[str, object]:
    return {
        "method": scope.get("method", "WEBSOCKET"),
        "path": scope["path"],
        # No response started: the app failed, and the server answers 500.
        "status": status or 500,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "operation": ",".join(record.operations) or None,
        "outcome": ",".join(record.outcomes) or None,
        "viewer_id": record.viewer_id,
        "workspace_id": record.workspace_id,
    }

"""Syntax and validation errors over both subprotocols, frame by frame: an `error` message for the
operation, with its code, on a socket that then serves the next operation. Every frame is text."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql_ws import LEGACY_WS, TRANSPORT_WS, connect, receive_json, start
from tests.inbox.conftest import Inbox

ERRORS = [
    pytest.param("subscription { messageReceived {", "GRAPHQL_PARSE_FAILED", id="syntax"),
    pytest.param("subscription { noSuchField }", "GRAPHQL_VALIDATION_FAILED", id="validation"),
    pytest.param("{ viewer { noSuchField } }", "GRAPHQL_VALIDATION_FAILED", id="query validation"),
]


def errors_of(message: dict[str, Any], protocol: str) -> list[dict[str, Any]]:
    """graphql-transport-ws sends a list of errors, the legacy protocol one error."""
    payload = message["payload"]
    errors: list[dict[str, Any]] = payload if protocol == TRANSPORT_WS else [payload]
    return errors


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize(("query", "code"), ERRORS)
async def test_a_request_error_is_an_error_message_and_the_socket_serves_on(
    inbox: Inbox, protocol: str, query: str, code: str
) -> None:
    async with connect(inbox.url, inbox.tokens["alice"], protocol) as socket:
        await start(socket, protocol, "bad", query)
        error = await receive_json(socket)
        assert (error["type"], error["id"]) == ("error", "bad")
        [reported] = errors_of(error, protocol)
        assert reported["extensions"] == {"code": code}

        await start(socket, protocol, "good", "{ viewer { user { email } } }")
        result = await receive_json(socket)
        assert (result["type"], result["id"]) == (
            "next" if protocol == TRANSPORT_WS else "data",
            "good",
        )
        assert result["payload"]["data"] == {
            "viewer": {"user": {"email": "alice@demo.switchboard.test"}}
        }
        assert await receive_json(socket) == {"type": "complete", "id": "good"}

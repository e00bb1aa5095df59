"""The `graphql-ws` JavaScript client (what Apollo Client and urql use) over one socket: a
subscription event, a query, a syntax and a validation error, and an operation after them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.clients.conftest import CLIENTS
from tests.inbox.conftest import Inbox
from tests.inbox.test_live_messages import WHATSAPP, a_chat_of, register

SCRIPT = CLIENTS / "graphql-ws-client.mjs"
RUN_TIMEOUT = 60
MESSAGES = """
subscription { messageReceived { message { text direction } conversation { externalId } } }
"""
VIEWER = "{ viewer { user { email } } }"


async def run_client(node: str, spec: dict[str, Any], on_subscribed: Any) -> list[dict[str, Any]]:
    """The script's JSON lines; `on_subscribed()` is awaited when it says it is subscribed."""
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        json.dumps(spec),
        cwd=Path(CLIENTS),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            while line := await process.stdout.readline():
                lines.append(json.loads(line))
                if lines[-1]["event"] == "subscribed":
                    await on_subscribed()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = (await process.stderr.read()).decode()
    assert process.returncode == 0, (lines, errors)
    return lines


def of(lines: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("name") == name]


async def test_the_graphql_ws_client_subscribes_queries_and_gets_errors_as_errors(
    inbox: Inbox, node: str
) -> None:
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")

    async def post_a_message() -> None:
        response = await inbox.sandbox_post(
            "/_sandbox/messages", {"account_id": WHATSAPP, "chat_id": chat_id, "text": "Salut !"}
        )
        assert response.status_code == 201

    spec = {
        "url": inbox.url.replace("http://", "ws://") + "/graphql",
        "token": inbox.tokens["bob"],
        "subscription": MESSAGES,
        "operations": [
            {"name": "query", "query": VIEWER},
            {"name": "syntax error", "query": "subscription { messageReceived {"},
            {"name": "validation error", "query": "subscription { noSuchField }"},
            {"name": "after the errors", "query": "{ viewer { workspace { name } } }"},
        ],
    }
    lines = await run_client(node, spec, post_a_message)

    assert lines[-1] == {"event": "done"}, lines
    # One socket throughout (`lazy: false`), never closed under an operation.
    assert [line for line in lines if line["event"] == "connected"] == [{"event": "connected"}]
    assert not [line for line in lines if line["event"] == "closed"], lines

    # The script stops the subscription after its first event: the client then completes it.
    event, stopped = of(lines, "subscription")
    assert (event["event"], stopped["event"]) == ("next", "complete")
    received = event["payload"]["data"]["messageReceived"]
    assert received["message"] == {"text": "Salut !", "direction": "INBOUND"}
    assert received["conversation"]["externalId"] == chat_id

    result, completed = of(lines, "query")
    assert result["event"] == "next"
    assert result["payload"]["data"] == {"viewer": {"user": {"email": "bob@demo.switchboard.test"}}}
    assert completed == {"event": "complete", "name": "query"}

    [syntax] = of(lines, "syntax error")
    assert syntax["event"] == "error"
    assert syntax["errors"][0]["message"].startswith("Syntax Error")
    assert syntax["errors"][0]["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}

    [validation] = of(lines, "validation error")
    assert validation["event"] == "error"
    assert "noSuchField" in validation["errors"][0]["message"]
    assert validation["errors"][0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}

    result, completed = of(lines, "after the errors")
    assert result["payload"]["data"] == {"viewer": {"workspace": {"name": "Demo"}}}
    assert completed == {"event": "complete", "name": "after the errors"}

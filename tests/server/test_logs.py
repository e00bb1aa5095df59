"""Structured logs from the outside: a served app with `LOG_FORMAT=json`, its console read line
by line, each line found by the request id its response returned. The console is what
`switchboard serve` sets up (`logging.basicConfig`: a stream handler on the root logger at
`LOG_LEVEL`), writing here to a buffer the test reads."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from db.models import User
from server.app import create_app
from server.settings import Settings, SettingsError
from server.webhooks import register_webhooks
from tests.graphql_ws import subscribe
from tests.inbox.conftest import SANDBOX_KEY, WEBHOOK_SECRET, inbox_settings, issue_demo_tokens
from unipile import UnipileClient
from unipile.sandbox import SandboxSettings, create_sandbox_app
from unipile.sandbox.testing import running_app

VIEWER = "query Viewer { viewer { user { email } } }"
INBOX = "query Inbox { conversations(first: 5) { edges { node { id } } } }"
WHATSAPP = "acc_whatsapp_demo_0001"
STORAGE = (
    "query Storage { conversations(first: 50) "
    "{ edges { node { storage { stored shouldStore } } } } }"
)


@dataclass
class RecordedHeaders:
    """The sandbox behind a recorder of each request's `X-Request-ID`."""

    app: ASGIApp
    request_ids: list[str | None] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1"):
            headers = dict(scope["headers"])
            value = headers.get(b"x-request-id")
            self.request_ids.append(value.decode() if value is not None else None)
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Served:
    url: str
    tokens: dict[str, str]
    upstream: RecordedHeaders


@pytest.fixture
def upstream() -> Iterator[tuple[str, RecordedHeaders]]:
    recorder = RecordedHeaders(create_sandbox_app(SandboxSettings(api_key=SANDBOX_KEY)))
    with running_app(recorder) as url:
        yield url, recorder


class Console:
    """A stream handler on the root logger, as `logging.basicConfig` installs one."""

    def __init__(self) -> None:
        self._stream = io.StringIO()
        self._read = 0
        self.handler = logging.StreamHandler(self._stream)

    def read(self) -> str:
        """What was written since the last read."""
        text = self._stream.getvalue()
        new, self._read = text[self._read :], len(text)
        return new


@pytest.fixture
def console() -> Iterator[Console]:
    root = logging.getLogger()
    level = root.level
    console = Console()
    root.addHandler(console.handler)
    root.setLevel(logging.INFO)
    try:
        yield console
    finally:
        root.removeHandler(console.handler)
        root.setLevel(level)


@pytest.fixture
def log_format() -> str:
    return "json"


@pytest.fixture
async def served(
    database: str,
    upstream: tuple[str, RecordedHeaders],
    tmp_path: Path,
    log_format: str,
    console: Console,
) -> AsyncIterator[Served]:
    tokens = await issue_demo_tokens()
    url, recorder = upstream
    settings = inbox_settings(database, tmp_path, url, {"LOG_FORMAT": log_format})
    with running_app(create_app(settings)) as app_url:
        yield Served(app_url, tokens, recorder)


def json_lines(captured: str) -> list[dict[str, Any]]:
    lines = []
    for line in captured.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def post(
    served: Served, query: str, headers: dict[str, str | bytes] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        return await client.post(
            "/graphql",
            json={"query": query, "operationName": query.split()[1]},
            headers={"Authorization": f"Bearer {served.tokens['alice']}", **(headers or {})},
        )


async def test_a_request_line_carries_the_id_the_response_returned(
    served: Served, console: Console
) -> None:
    response = await post(served, INBOX)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32

    lines = [line for line in json_lines(console.read()) if line["request_id"] == request_id]
    request_line = next(line for line in lines if line["logger"] == "switchboard.requests")
    alice = await User.get(email="alice@demo.switchboard.test")
    assert request_line["operation"] == "Inbox"
    assert request_line["outcome"] == "ok"
    assert request_line["status"] == 200
    assert request_line["method"] == "POST"
    assert request_line["path"] == "/graphql"
    assert request_line["viewer_id"] == alice.id
    assert request_line["workspace_id"] == alice.workspace_id
    assert request_line["duration_ms"] > 0
    # The inbox's UniPile calls carried the request's id.
    assert served.upstream.request_ids
    assert set(served.upstream.request_ids) == {request_id}


async def test_a_refused_requests_one_line_carries_its_request_id(
    served: Served, console: Console
) -> None:
    response = await post(served, VIEWER, {"Authorization": "Bearer forged-token-77aa"})
    request_id = response.headers["x-request-id"]
    captured = console.read()
    lines = [line for line in json_lines(captured) if line["request_id"] == request_id]
    assert [line["logger"] for line in lines] == ["schema.schema"]
    assert "UNAUTHENTICATED" in lines[0]["message"]
    assert "forged-token-77aa" not in captured


@pytest.mark.parametrize("log_format", ["text"])
async def test_text_lines_carry_the_request_id_and_fields(served: Served, console: Console) -> None:
    response = await post(served, VIEWER)
    request_id = response.headers["x-request-id"]
    lines = [line for line in console.read().splitlines() if f"[{request_id}]" in line]
    request_line = next(line for line in lines if " switchboard.requests " in line)
    assert "POST /graphql 200" in request_line
    assert "operation=Viewer" in request_line and "outcome=ok" in request_line


@pytest.mark.parametrize(("value", "expected"), [("", "text"), ("JSON", "json"), ("text", "text")])
def test_log_format_is_json_or_text(tmp_path: Path, value: str, expected: str) -> None:
    environ = {"DATA_DIR": str(tmp_path)} | ({"LOG_FORMAT": value} if value else {})
    assert Settings.from_environ(environ, env_file=None).log_format == expected


def test_another_log_format_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        Settings.from_environ({"LOG_FORMAT": "xml"}, env_file=None)


async def test_a_page_of_a_listed_origin_may_send_and_read_the_request_id(
    database: str, upstream: tuple[str, RecordedHeaders], tmp_path: Path
) -> None:
    origin = "https://crm.example.com"
    settings = inbox_settings(database, tmp_path, upstream[0], {"CORS_ORIGINS": origin})
    with running_app(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            preflight = await client.options(
                "/graphql",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, x-request-id",
                },
            )
            answered = await client.get(
                "/healthz", headers={"Origin": origin, "X-Request-ID": "page-1"}
            )
    assert preflight.status_code == 200
    assert "x-request-id" in preflight.headers["access-control-allow-headers"].lower()
    assert answered.headers["x-request-id"] == "page-1"
    assert answered.headers["access-control-expose-headers"].lower() == "x-request-id"


async def test_a_websocket_line_names_its_viewer_and_operations_once_closed(
    served: Served, console: Console
) -> None:
    subscription = "subscription Live { messageReceived { message { id } } }"
    async with subscribe(served.url, served.tokens["bob"], subscription, operation_name="Live"):
        pass
    bob = await User.get(email="bob@demo.switchboard.test")

    def socket_line(line: dict[str, Any]) -> bool:
        return line["logger"] == "switchboard.requests" and line["method"] == "WEBSOCKET"

    line = await wait_for_line(console, socket_line)
    assert line["path"] == "/graphql"
    assert line["status"] == 101
    assert line["viewer_id"] == bob.id
    assert line["workspace_id"] == bob.workspace_id
    assert len(line["request_id"]) == 32
    assert (line["operation"], line["outcome"]) == ("Live", "ok")


async def test_a_sane_request_id_is_kept(served: Served, console: Console) -> None:
    offered = "edge-7f3a.2b:01"
    response = await post(served, VIEWER, {"X-Request-ID": offered})
    assert response.headers["x-request-id"] == offered
    lines = json_lines(console.read())
    assert any(line["request_id"] == offered and line["operation"] == "Viewer" for line in lines)


@pytest.mark.parametrize(
    "forged",
    ["a" * 129, "two words", "<script>", "id\u00e9", 'x"}, {"level": "ERROR', ""],
)
async def test_a_forged_or_oversized_request_id_is_replaced(
    served: Served, console: Console, forged: str
) -> None:
    response = await post(served, VIEWER, {"X-Request-ID": forged.encode()})
    replaced = response.headers["x-request-id"]
    assert replaced != forged
    assert len(replaced) == 32 and int(replaced, 16) >= 0
    captured = console.read()
    assert any(line["request_id"] == replaced for line in json_lines(captured))
    if forged:
        assert forged not in captured


async def test_no_line_holds_a_token_variables_or_a_message(
    served: Served, console: Console
) -> None:
    secret_text = "a message body nobody may log 5f1c"
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        refused = await client.post(
            "/graphql",
            json={"query": VIEWER, "variables": {"note": secret_text}},
            headers={"Authorization": "Bearer not.a.valid-token-9d2e"},
        )
        webhook = await client.post(
            "/webhooks/unipile",
            json={
                "event": "message_received",
                "message_id": "m-unknown",
                "message": secret_text,
                "account_id": WHATSAPP,
                "chat_id": "c-unknown",
            },
            headers={"Unipile-Auth": WEBHOOK_SECRET},
        )
    await post(served, VIEWER)
    assert refused.status_code == 200
    assert webhook.status_code < 300
    captured = console.read()
    assert json_lines(captured)
    for forbidden in (
        served.tokens["alice"],
        "not.a.valid-token-9d2e",
        secret_text,
        SANDBOX_KEY,
        WEBHOOK_SECRET,
    ):
        assert forbidden not in captured


async def test_a_receipts_processing_logs_its_own_id_and_the_receipt(
    served: Served, console: Console
) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        webhook = await client.post(
            "/webhooks/unipile",
            json={
                "AccountStatus": {
                    "account_id": WHATSAPP,
                    "account_type": "WHATSAPP",
                    "message": "CREDENTIALS",
                }
            },
            headers={"Unipile-Auth": WEBHOOK_SECRET, "X-Request-ID": "delivery-0001"},
        )
    assert webhook.status_code < 300
    receipt_line = await wait_for_line(
        console, lambda line: line["logger"] == "switchboard.receipts"
    )
    assert receipt_line["event"] == "account_status"
    assert receipt_line["outcome"] == "processed"
    assert isinstance(receipt_line["receipt_id"], int)
    # Its own id: the delivery's request is over, the processing is another unit of work.
    assert receipt_line["request_id"] not in (None, "delivery-0001")


async def test_a_receipts_upstream_calls_carry_its_processing_id(
    served: Served, upstream: tuple[str, RecordedHeaders], console: Console
) -> None:
    sandbox, recorder = upstream
    async with httpx.AsyncClient() as http:
        client = UnipileClient(http, sandbox, SANDBOX_KEY)
        await register_webhooks(client, url=served.url, secret=WEBHOOK_SECRET)
        chats = await client.list_chats(account_id=WHATSAPP, limit=5)
        async with httpx.AsyncClient(base_url=sandbox) as admin:
            posted = await admin.post(
                "/_sandbox/messages",
                json={"account_id": WHATSAPP, "chat_id": chats.items[0].id, "text": "Salut"},
            )
    assert posted.status_code == 201

    def processed(line: dict[str, Any]) -> bool:
        return line["logger"] == "switchboard.receipts" and line["event"] == "message_received"

    line = await wait_for_line(console, processed)
    assert line["outcome"] == "processed"
    assert line["request_id"] in recorder.request_ids


async def wait_for_line(console: Console, wanted: Any) -> dict[str, Any]:
    seen = ""
    for _ in range(100):
        seen += console.read()
        for line in json_lines(seen):
            if wanted(line):
                return line
        await asyncio.sleep(0.1)
    raise AssertionError("no such line in the server's log")


async def test_a_store_job_runs_under_the_id_of_the_request_that_enqueued_it(
    served: Served, console: Console
) -> None:
    """alice's inbox shows emails of CRM contacts not stored yet: the read enqueues their storage,
    which a worker runs after the response; its lines and UniPile calls carry the read's id."""
    response = await post(served, STORAGE, {"X-Request-ID": "inbox-read-0001"})
    storage = [
        edge["node"]["storage"] for edge in response.json()["data"]["conversations"]["edges"]
    ]
    assert {"stored": False, "shouldStore": True} in storage
    served.upstream.request_ids.clear()

    def stored(line: dict[str, Any]) -> bool:
        return line["logger"] == "storing.jobs" and line["message"].startswith("stored ")

    line = await wait_for_line(console, stored)
    assert line["request_id"] == "inbox-read-0001"
    # Storing fetched the conversation's messages from UniPile, under the same id.
    assert "inbox-read-0001" in served.upstream.request_ids

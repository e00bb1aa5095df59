"""GraphiQL in a real browser (Debian's chromium driven by Playwright), against `make run`'s set-up:
the server in embedded mode over its sandbox, with every request to another host blocked. The
page renders from the server's own files, runs the README's inbox query with the demo token it
was served with, and shows a message posted to the sandbox through a `messageReceived`
subscription; with no page error and no console error (CSP violations included)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import phonenumbers
import pytest

from tests.conftest import require_service
from tests.inbox.test_embedded_live_mode import made_run
from unipile.sandbox import DEMO_DEFAULT_REGION, build_demo
from unipile.sandbox.demo import ALICE_WHATSAPP_ID

if TYPE_CHECKING:
    from playwright.sync_api import (
        BrowserContext,
        ConsoleMessage,
        Page,
        Playwright,
        Request,
        Route,
        WebSocket,
        WebSocketRoute,
    )

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
SUBSCRIPTION = """subscription Live {
  messageReceived {
    message { text sender { displayName crmMatch { contact { name } method } } }
    conversation { externalId channel account { externalId } }
  }
}"""
TEXT = "Hello from the GraphiQL browser test"
# Reports Content-Security-Policy violations as console errors (an init script is not subject
# to the page's policy).
REPORT_CSP = """document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " " + event.blockedURI);
});"""
RESULT = "() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue() ?? ''"


def readme_inbox_query() -> str:
    """The README's inbox example, as a newcomer would paste it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks: list[str] = re.findall(r"```graphql\n(.*?)```", readme, re.S)
    [query] = [block for block in blocks if "Inbox" in block]
    return query


def jane_doe_jid() -> str:
    """Jane Doe's WhatsApp id: the demo CRM has her phone in national form."""
    [jane] = [c for c in build_demo(7).crm.contacts if c.key == "jane_doe"]
    number = phonenumbers.parse(jane.phones[0], DEMO_DEFAULT_REGION)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164[1:] + "@s.whatsapp.net"


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS


@dataclass
class Watch:
    """What the page did that it must not: errors, and requests that would leave the machine."""

    foreign: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def block(self, route: Route) -> None:
        self.foreign.append(route.request.url)
        route.abort()

    def block_socket(self, socket: WebSocketRoute) -> None:
        self.foreign.append(socket.url)
        socket.close()

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def on_request(self, request: Request) -> None:
        if not is_local(request.url):
            self.foreign.append(request.url)

    def on_socket(self, socket: WebSocket) -> None:
        self.sockets.append(socket)

        def sent(payload: str | bytes) -> None:
            assert isinstance(payload, str), "GraphiQL sends text frames"
            self.sent.append(json.loads(payload))

        socket.on("framesent", sent)

    def page(self, context: BrowserContext) -> Page:
        """A page of `context` watched: other hosts blocked, CSP violations reported, errors,
        console messages, requests and WebSocket frames recorded here."""
        context.route(lambda target: not is_local(target), self.block)
        context.route_web_socket(lambda target: not is_local(target), self.block_socket)
        context.add_init_script(REPORT_CSP)
        page = context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self.on_console)
        page.on("request", self.on_request)
        page.on("websocket", self.on_socket)
        return page

    def sent_of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.sent if message.get("type") == kind]


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("playwright", "the Python package is not installed (pip install -e .[dev])")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        require_service("chromium", "apt-get install -y chromium")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`make run` in a temporary folder: migrate, seed-demo, serve (with its sandbox)."""
    with made_run(tmp_path) as (url, sandbox, _):
        yield url, sandbox


def set_query(page: Page, query: str) -> None:
    page.evaluate(
        "(query) => document.querySelector('.graphiql-query-editor .CodeMirror')"
        ".CodeMirror.setValue(query)",
        query,
    )


def result(page: Page) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(page.evaluate(RESULT))
    return parsed


def test_graphiql_runs_the_inbox_and_a_subscription_offline(
    playwright: Playwright, served: tuple[str, str]
) -> None:
    url, sandbox = served
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    watch = Watch()
    try:
        page = watch.page(browser.new_context())

        page.goto(f"{url}/graphql")
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=20_000)
        headers_text = page.evaluate(
            "() => [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]"
            ".map((e) => e.CodeMirror.getValue()).find((v) => v.includes('Authorization'))"
        )
        headers = json.loads(headers_text)
        assert headers["Authorization"].startswith("Bearer ey"), headers

        # The README's inbox query, run with the header the page came with.
        set_query(page, readme_inbox_query())
        page.click(".graphiql-execute-button")
        page.wait_for_function(f"() => ({RESULT})().includes('conversations')", timeout=30_000)
        inbox = result(page)
        assert "errors" not in inbox, inbox
        edges = inbox["data"]["conversations"]["edges"]
        assert edges and all(edge["node"]["id"] for edge in edges)

        # A subscription in a new tab, which opens with the same header.
        page.click(".graphiql-tab-add")
        set_query(page, SUBSCRIPTION)
        page.wait_for_function(
            "() => document.querySelector('.graphiql-tab-active')?.textContent.includes('Live')"
        )
        with page.expect_websocket(timeout=10_000) as opened:
            page.click(".graphiql-execute-button")
        opened.value.wait_for_event(
            "framesent", lambda frame: '"subscribe"' in str(frame), timeout=10_000
        )
        # The socket authenticated with the Headers editor's header, as connection_init payload.
        assert watch.sent_of_type("connection_init") == [
            {"type": "connection_init", "payload": headers}
        ]
        # The server has the subscription once it has read the message.
        page.wait_for_timeout(1000)
        posted = httpx.post(
            f"{sandbox}/_sandbox/messages",
            json={
                "account_id": ALICE_WHATSAPP_ID,
                "chat_id": "graphiql-browser-test",
                "sender": jane_doe_jid(),
                "sender_name": "Jane Doe",
                "text": TEXT,
            },
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        page.wait_for_function(f"() => ({RESULT})().includes({json.dumps(TEXT)})", timeout=20_000)
        event = result(page)["data"]["messageReceived"]
        assert event["message"]["text"] == TEXT
        assert event["message"]["sender"]["crmMatch"] == {
            "contact": {"name": "Jane Doe"},
            "method": "PHONE",
        }
        assert event["conversation"]["channel"] == "WHATSAPP"
        assert all(socket.url == url.replace("http", "ws") + "/graphql" for socket in watch.sockets)
    finally:
        browser.close()
    assert not watch.foreign, f"requests to other hosts: {watch.foreign}"
    assert not watch.page_errors, watch.page_errors
    assert not watch.console_errors, watch.console_errors

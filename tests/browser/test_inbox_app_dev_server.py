"""The frontend's dev server (`npm run dev` in web/, Vite) against a local API, as the README
tells a newcomer: the page on a port the embedded mode's default CORS_ORIGINS allows, the API
at VITE_SWITCHBOARD_URL, a token pasted in; its inbox loads across origins and a live message
arrives over the API's WebSocket. Needs Node and web/'s npm packages (installed from its lock
file when missing): without them the test skips, except with CI=true."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from server.settings import LOCAL_DEV_PORTS
from tests.browser.inbox_app import api, screenshot
from tests.browser.test_graphiql_browser import REPORT_CSP, ROOT
from tests.conftest import require_service
from tests.inbox.test_embedded_live_mode import made_run
from unipile.sandbox.demo import GMAIL_ID

if TYPE_CHECKING:
    from playwright.sync_api import Browser

WEB = ROOT / "web"
NPM_CI_TIMEOUT = 300
START_SECONDS = 30
FIRST_PAGE = "{ conversations(first: 50) { edges { node { id } } } }"


def npm() -> str:
    """npm, with web/'s packages installed."""
    found = shutil.which("npm")
    if shutil.which("node") is None or found is None:
        require_service("Node.js", "no `node` and `npm` on PATH")
    assert found is not None
    if not (WEB / "node_modules" / ".bin" / "vite").exists():
        installed = subprocess.run(
            [found, "ci", "--prefix", str(WEB), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT,
            check=False,
        )
        if installed.returncode != 0:
            require_service("web/'s npm packages", installed.stderr.strip()[-500:])
    return found


def allowed_free_port() -> int:
    """A port of the dev servers CORS_ORIGINS allows by default that nothing listens on."""
    for port in LOCAL_DEV_PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"every default dev server port is taken: {LOCAL_DEV_PORTS}")


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[tuple[str, str, str, str]]:
    """`make run`'s API, and Vite's dev server pointed at it: (page, API, sandbox, token)."""
    command = npm()
    with made_run(tmp_path) as (url, sandbox, token):
        port = allowed_free_port()
        log = (tmp_path / "vite.log").open("wb")
        vite = ("--host", "127.0.0.1", "--port", str(port))
        process = subprocess.Popen(
            [command, "run", "dev", "--prefix", str(WEB), "--", *vite],
            env={**os.environ, "VITE_SWITCHBOARD_URL": url},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        page = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_SECONDS
            while True:
                try:
                    httpx.get(page, timeout=1)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, (tmp_path / "vite.log").read_text()
                    assert time.monotonic() < deadline, "the dev server did not start"
                    time.sleep(0.2)
            yield page, url, sandbox, token
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
            log.close()


def test_the_dev_server_reads_and_follows_a_local_api(
    chromium: Browser, dev_server: tuple[str, str, str, str]
) -> None:
    page_url, api_url, sandbox, token = dev_server
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    try:
        context.add_init_script(REPORT_CSP)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(page_url)
        page.locator("#token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector(".rows .row", timeout=30_000)
        edges = api(api_url, token, FIRST_PAGE)["conversations"]["edges"]
        shown = page.eval_on_selector_all(
            ".rows .row", "(r) => r.map((e) => e.dataset.conversationId)"
        )
        assert shown[: len(edges)] == [edge["node"]["id"] for edge in edges]

        page.wait_for_timeout(1500)
        posted = httpx.post(
            f"{sandbox}/_sandbox/messages",
            json={
                "account_id": GMAIL_ID,
                "thread_id": "dev-server-live",
                "sender": "jane.doe@acme-corp.com",
                "subject": "From the dev server test",
                "text": "Hello",
            },
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        top = page.locator(".rows .row").first
        top.locator(".row-title", has_text="From the dev server test").wait_for(timeout=10_000)
        screenshot(page, "dev-server")
    finally:
        context.close()
    assert not errors, errors

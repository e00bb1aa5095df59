"""What the reference frontend's browser tests share: `make run`'s set-up for a module, Debian's
chromium, the app signed in with the demo token it was served with and watched for what it must
not do (page and console errors, CSP violations, dialogs, requests to other hosts), the API asked
with the same token, and screenshots saved under `$SWITCHBOARD_ARTIFACTS` (default
`build/artifacts/`)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.browser.test_graphiql_browser import CHROMIUM, ROOT, Watch
from tests.inbox.test_embedded_live_mode import made_run

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page, Playwright

ARTIFACTS = Path(os.environ.get("SWITCHBOARD_ARTIFACTS", ROOT / "build" / "artifacts"))
ROW_IDS = "(rows) => rows.map((row) => row.dataset.conversationId)"


@dataclass
class Session:
    page: Page
    watch: Watch
    token: str
    dialogs: list[str]


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`make run` in a temporary folder, shared by a module's tests; each test asks the API
    for what it compares, after the tests before it changed the demo."""
    with made_run(tmp_path_factory.mktemp("inbox-app")) as (url, sandbox, _):
        yield url, sandbox


@pytest.fixture
def chromium(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    try:
        yield launched
    finally:
        launched.close()


def api(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    answer = httpx.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert "errors" not in answer, answer
    return answer["data"]


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"inbox-app-{name}.png"
    page.screenshot(path=str(path))
    return path


@contextmanager
def signed_in(browser: Browser, url: str) -> Iterator[Session]:
    """The app opened at / and signed in with the pre-filled demo token, its first page shown;
    on the way out, the page did nothing it must not."""
    watch = Watch()
    dialogs: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = watch.page(context)

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{url}/")
    token = page.locator("#token").input_value()
    assert token.startswith("ey"), "the embedded mode pre-fills the demo token"
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(".rows .row", timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('.rows-end')?.textContent.includes('Loading')"
    )
    yield Session(page, watch, token, dialogs)
    context.close()
    assert not watch.foreign, f"requests to other hosts: {watch.foreign}"
    assert not watch.page_errors, watch.page_errors
    assert not watch.console_errors, watch.console_errors
    assert not dialogs, dialogs


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(".rows .row", ROW_IDS)
    return ids


def wait_for_subscriptions(session: Session) -> None:
    """The app's three subscriptions are sent, and the server has read them."""
    deadline = time.monotonic() + 10
    while len(session.watch.sent_of_type("subscribe")) < 3:
        assert time.monotonic() < deadline, session.watch.sent
        session.page.wait_for_timeout(100)
    session.page.wait_for_timeout(500)

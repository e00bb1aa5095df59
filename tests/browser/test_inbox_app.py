"""The reference frontend in a real browser (Debian's chromium driven by Playwright), against
`make run`'s set-up: `switchboard serve` in embedded mode over its sandbox, every request to
another host blocked. Each test signs in with the demo token the page came with, checks what the
screen shows against the API asked with the same token, and ends with no page error, no console
error and no Content-Security-Policy violation. Screenshots go to `$SWITCHBOARD_ARTIFACTS`
(default `build/artifacts/`); with `UPDATE_DOCS_SCREENSHOT=1` the inbox one is also written to
`docs/inbox.png`."""

from __future__ import annotations

import os
import shutil
import time
from typing import TYPE_CHECKING, Any

import httpx

from tests.browser.inbox_app import api, screenshot, shown_ids, signed_in, wait_for_subscriptions
from tests.browser.test_graphiql_browser import ROOT, jane_doe_jid
from unipile.sandbox.demo import ALICE_WHATSAPP_ID, GMAIL_ID

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DOCS_SCREENSHOT = ROOT / "docs" / "inbox.png"
PAGE = 50
LIVE_WITHIN_SECONDS = 2.0
INBOX = """query Inbox($after: String) {
  conversations(first: 50, after: $after) {
    edges { node { id storage { stored reason } links { target { name } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
ROWS = """{ conversations(first: 50) { edges { node {
  id channel subject isGroup hasAttachments unreadCount lastMessagePreview
  participants { isSelf displayName identifier phoneNumber
    crmMatch { contact { name } company { name } ambiguous } }
  storage { stored shouldStore reason } links { target { name } }
} } } }"""
# What a row shows, read off the screen.
ROW_CONTENT = """(rows) => rows.map((row) => ({
  id: row.dataset.conversationId,
  channel: row.querySelector('.channel').textContent,
  title: row.querySelector('.row-title').textContent,
  group: [...row.querySelectorAll('.flag')].some((f) => f.textContent === 'group'),
  attachments: [...row.querySelectorAll('.flag')].some((f) => f.textContent === 'attachments'),
  unread: Number(row.querySelector('.unread')?.textContent ?? 0),
  preview: row.querySelector('.preview')?.textContent ?? null,
  participants: row.querySelector('.participants').textContent,
  stored: row.querySelector('.storage-badge').dataset.stored === 'true',
  shouldStore: row.querySelector('.storage-badge').dataset.shouldStore === 'true',
  reason: row.querySelector('.storage-badge').dataset.reason,
  links: [...row.querySelectorAll('.badge.link')].map((link) => link.textContent),
}))"""
MESSAGES = """query Messages($id: ID!) {
  conversation(id: $id) { messages(first: 30) { edges { node { id text } } } }
}"""
# Each part would leave a mark if it ran: on the page, in the email's own document, or a dialog.
HOSTILE = (
    "<script>document.documentElement.dataset.ran = 'script'; parent.hostileRan = true;"
    " alert('script')</script>"
    '<img src="data:image/gif;base64,AAAA" onerror="document.documentElement.dataset.ran ='
    " 'onerror'; parent.hostileRan = true; alert('onerror')\">"
    '<a id="hostile-link" href="javascript:parent.hostileRan = true; alert(\'link\')">Open</a>'
)
# What Chromium says on the console when it refuses hostile markup that reached the frame (a
# script the empty sandbox blocks, a javascript: link the inherited policy blocks): the defences
# working, not the app failing. Markup the server's sanitiser removes never gets this far.
REFUSED_HOSTILE = (
    "Blocked script execution in 'about:srcdoc'",
    "Running the JavaScript URL violates the following Content Security Policy directive",
)


def test_the_inbox_shows_the_apis_pages_in_order_as_it_scrolls(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        first = api(url, session.token, INBOX)["conversations"]
        expected = [edge["node"]["id"] for edge in first["edges"]]
        assert len(expected) == PAGE and first["pageInfo"]["hasNextPage"]
        assert shown_ids(page) == expected
        screenshot(page, "first-page")

        page.locator(".rows").evaluate("(list) => list.scrollTo(0, list.scrollHeight)")
        page.wait_for_function(
            f"() => document.querySelectorAll('.rows .row').length > {PAGE}", timeout=20_000
        )
        page.wait_for_function(
            "() => !document.querySelector('.rows-end')?.textContent.includes('Loading')"
        )
        after = first["pageInfo"]["endCursor"]
        second = api(url, session.token, INBOX, {"after": after})["conversations"]
        shown = shown_ids(page)
        assert shown[: PAGE * 2] == expected + [edge["node"]["id"] for edge in second["edges"]]
        assert len(shown) == len(set(shown)), "a conversation is shown twice"
        screenshot(page, "second-page")


def expected_row(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": node["id"],
        "channel": node["channel"].lower(),
        "group": node["isGroup"],
        "attachments": node["hasAttachments"],
        "unread": node["unreadCount"],
        "preview": node["lastMessagePreview"] or None,
        "stored": node["storage"]["stored"],
        "shouldStore": node["storage"]["shouldStore"],
        "reason": node["storage"]["reason"],
        "links": [link["target"]["name"] for link in node["links"]],
    }


def settled_rows(url: str, token: str) -> list[dict[str, Any]]:
    """The first page once the server has stored what it stores on its own when it reads it."""
    deadline = time.monotonic() + 10
    nodes = None
    while True:
        latest = [edge["node"] for edge in api(url, token, ROWS)["conversations"]["edges"]]
        if latest == nodes:
            return latest
        assert time.monotonic() < deadline, "the inbox kept changing"
        nodes = latest
        time.sleep(1)


def test_each_row_shows_what_the_api_says_of_its_conversation(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        nodes = settled_rows(url, session.token)
        # Automatic storing, which the first read set off, publishes no event: read again.
        session.page.reload()
        session.page.wait_for_selector(".rows .row", timeout=30_000)
        shown = session.page.eval_on_selector_all(".rows .row", ROW_CONTENT)[: len(nodes)]
        assert [row["id"] for row in shown] == [node["id"] for node in nodes]
        for node, row in zip(nodes, shown, strict=True):
            assert {key: row[key] for key in expected_row(node)} == expected_row(node)
            if node["subject"]:
                assert row["title"] == node["subject"]
            for person in (p for p in node["participants"] if not p["isSelf"]):
                assert (person["displayName"] or person["identifier"]) in row["participants"]
                if node["channel"] == "WHATSAPP" and person["phoneNumber"]:
                    assert person["phoneNumber"] in row["participants"] + row["title"]
                match = person["crmMatch"] or {}
                for record in (match.get("contact"), match.get("company")):
                    if record and not match["ambiguous"]:
                        assert record["name"] in row["participants"]
        kinds = {(row["channel"], row["group"], row["attachments"]) for row in shown}
        assert len({channel for channel, _, _ in kinds}) > 1, "the demo's first page mixes channels"


def test_opening_a_conversation_shows_its_messages(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        chat = page.locator(".rows .row", has=page.locator(".channel", has_text="whatsapp")).first
        conversation_id = chat.get_attribute("data-conversation-id")
        assert conversation_id
        chat.locator(".row-body").click()
        page.wait_for_selector(".messages .message", timeout=20_000)
        assert page.evaluate("() => location.pathname").startswith("/conversations/")
        messages = api(url, session.token, MESSAGES, {"id": conversation_id})
        edges = messages["conversation"]["messages"]["edges"]
        newest_first = [edge["node"]["id"] for edge in edges]
        shown = page.eval_on_selector_all(
            ".messages .message", "(items) => items.map((item) => item.dataset.messageId)"
        )
        assert shown == list(reversed(newest_first)), "oldest at the top, newest at the bottom"
        texts = page.locator(".messages .message .message-text").all_inner_texts()
        assert texts == [edge["node"]["text"] or "" for edge in reversed(edges)]
        path = screenshot(page, "conversation")
        if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
            shutil.copyfile(path, DOCS_SCREENSHOT)


def test_linking_a_conversation_to_a_contact_changes_its_badge(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        edges = api(url, session.token, INBOX)["conversations"]["edges"]
        [target, *_] = [
            edge["node"]["id"]
            for edge in edges
            if not edge["node"]["storage"]["stored"] and not edge["node"]["links"]
        ]
        row = page.locator(f'.rows .row[data-conversation-id="{target}"]')
        assert row.locator(".storage-badge").get_attribute("data-stored") == "false"
        row.locator(".row-body").click()
        page.get_by_role("button", name="Link…").click()
        page.get_by_label("Search contacts and companies").fill("Jane")
        page.get_by_role("list", name="Contacts").get_by_role(
            "button", name="Jane Doe"
        ).first.click()

        badge = row.locator('.storage-badge[data-stored="true"][data-reason="MANUAL_LINK"]')
        badge.wait_for(timeout=10_000)
        assert row.locator(".badge.link", has_text="Jane Doe").count() == 1
        page.locator(".notice-ok", has_text="Linked to Jane Doe").wait_for()
        node = api(
            url,
            session.token,
            "query($id: ID!) { node(id: $id) { ... on Conversation "
            "{ storage { stored reason } links { target { name } } } } }",
            {"id": target},
        )
        assert node["node"]["storage"] == {"stored": True, "reason": "MANUAL_LINK"}
        assert {"target": {"name": "Jane Doe"}} in node["node"]["links"]
        screenshot(page, "linked")


def test_a_message_posted_to_the_sandbox_comes_to_the_top_within_two_seconds(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, sandbox = app_server
    text = f"Live from the inbox test {time.time_ns()}"
    with signed_in(chromium, url) as session:
        page = session.page
        wait_for_subscriptions(session)
        before = shown_ids(page)
        posted = httpx.post(
            f"{sandbox}/_sandbox/messages",
            json={
                "account_id": ALICE_WHATSAPP_ID,
                "chat_id": "inbox-app-live-test",
                "sender": jane_doe_jid(),
                "sender_name": "Jane Doe",
                "text": text,
            },
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        sent = time.monotonic()
        page.locator(".rows .row").first.locator(".preview", has_text=text).wait_for(
            timeout=LIVE_WITHIN_SECONDS * 1000
        )
        assert time.monotonic() - sent <= LIVE_WITHIN_SECONDS
        top = page.locator(".rows .row").first
        assert "Jane Doe" in top.locator(".row-title").inner_text()
        assert shown_ids(page)[1:] == [i for i in before if i != shown_ids(page)[0]]
        screenshot(page, "live")


def test_a_hostile_email_body_runs_nothing(chromium: Browser, app_server: tuple[str, str]) -> None:
    url, sandbox = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        wait_for_subscriptions(session)
        posted = httpx.post(
            f"{sandbox}/_sandbox/messages",
            json={
                "account_id": GMAIL_ID,
                "thread_id": "inbox-app-hostile",
                "sender": "mallory@hostile.example",
                "sender_name": "Mallory",
                "subject": "Hostile body",
                "text": HOSTILE,
            },
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        top = page.locator(".rows .row").first
        top.locator(".row-title", has_text="Hostile body").wait_for(timeout=10_000)
        top.locator(".row-body").click()
        frame_element = page.locator("iframe.email-body").last
        frame_element.wait_for(timeout=20_000)
        assert frame_element.get_attribute("sandbox") == ""
        body = page.frame_locator("iframe.email-body").last
        body.locator("body").wait_for()
        links = body.locator("#hostile-link")
        if links.count():
            links.click()
        page.wait_for_timeout(1000)
        assert body.locator("html").get_attribute("data-ran") is None
        assert page.evaluate("() => window.hostileRan") is None
        screenshot(page, "hostile")
        session.watch.console_errors[:] = [
            error for error in session.watch.console_errors if not error.startswith(REFUSED_HOSTILE)
        ]

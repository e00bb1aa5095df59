"""The reference frontend's actions and live state in a real browser, against `make run`'s set-up
(see tests/browser/inbox_app.py): filters, bulk store and link from a selection, unlink, forget
(refused while linked, shown as such), a contact created from a participant, a chat message and
an email reply sent, an account's status changing live, and a refused token shown on the sign-in
step. Each result is checked on the screen and against the API."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.browser.inbox_app import api, screenshot, shown_ids, signed_in, wait_for_subscriptions
from unipile.sandbox.demo import GMAIL_ID

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

ROWS = """query Rows($filter: ConversationFilter) {
  conversations(first: 50, filter: $filter) {
    edges { node {
      id channel canLink storage { stored } links { target { name } }
      participants { isSelf identifier displayName crmMatch { contact { name } } }
    } }
  }
}"""
CONVERSATION = """query One($id: ID!) { node(id: $id) { ... on Conversation {
  storage { stored reason } links { target { name } }
  participants { identifier crmMatch { contact { name } } }
  messages(first: 5) { edges { node { text html direction } } }
} } }"""
ACCOUNTS = "{ accounts { id externalId status } }"


def rows(url: str, token: str, filter: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    edges = api(url, token, ROWS, {"filter": filter})["conversations"]["edges"]
    return [edge["node"] for edge in edges]


def conversation(url: str, token: str, conversation_id: str) -> dict[str, Any]:
    node: dict[str, Any] = api(url, token, CONVERSATION, {"id": conversation_id})["node"]
    return node


def unstored(found: list[dict[str, Any]], count: int) -> list[str]:
    ids = [r["id"] for r in found if r["canLink"] and not r["storage"]["stored"] and not r["links"]]
    assert len(ids) >= count, "the demo has fewer unstored conversations than the test needs"
    return ids[:count]


def row(page: Page, conversation_id: str) -> Locator:
    return page.locator(f'.rows .row[data-conversation-id="{conversation_id}"]')


def open_conversation(page: Page, conversation_id: str) -> Locator:
    row(page, conversation_id).locator(".row-body").click()
    view = page.locator("section.conversation")
    view.locator(".conversation-header h2").wait_for()
    return view


@pytest.mark.parametrize(
    ("label", "option", "server_filter"),
    [
        ("Channel", "EMAIL", {"channels": ["EMAIL"]}),
        ("Unread", "true", {"unread": True}),
        ("CRM", "true", {"matched": True}),
        ("Stored", "false", {"stored": False}),
    ],
)
def test_a_filter_shows_what_the_api_gives_for_it(
    chromium: Browser,
    app_server: tuple[str, str],
    label: str,
    option: str,
    server_filter: dict[str, Any],
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        page.get_by_label(label, exact=True).select_option(option)
        expected = [r["id"] for r in rows(url, session.token, server_filter)]
        assert expected, f"the demo has conversations for {server_filter}"
        page.wait_for_function(
            "(first) => document.querySelector('.rows .row')?.dataset.conversationId === first"
            " && !document.querySelector('.rows-end').textContent.includes('Loading')",
            arg=expected[0],
        )
        assert shown_ids(page)[: len(expected)] == expected
        if "channels" in server_filter:
            channels = page.locator(".rows .row .channel").all_inner_texts()
            assert {channel.lower() for channel in channels} == {"email"}


def test_bulk_store_and_link_from_a_selection(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        to_store, to_link = (
            unstored(rows(url, session.token), 4)[:2],
            unstored(rows(url, session.token), 4)[2:],
        )
        for conversation_id in to_store:
            row(page, conversation_id).locator("input[type=checkbox]").check()
        page.get_by_role("button", name="Store selected").click()
        page.locator(".notice-ok", has_text="Store: 2 of 2 done").wait_for()
        for conversation_id in to_store:
            row(page, conversation_id).locator('.storage-badge[data-stored="true"]').wait_for()
            assert conversation(url, session.token, conversation_id)["storage"] == {
                "stored": True,
                "reason": "MANUAL_STORE",
            }

        for conversation_id in to_link:
            row(page, conversation_id).locator("input[type=checkbox]").check()
        page.get_by_role("button", name="Link selected…").click()
        page.get_by_label("Search contacts and companies").fill("Globex")
        page.get_by_role("list", name="Companies").get_by_role("button", name="Globex").click()
        page.locator(".notice-ok", has_text="Link to Globex: 2 of 2 done").wait_for()
        for conversation_id in to_link:
            row(page, conversation_id).locator(".badge.link", has_text="Globex").wait_for()
            links = conversation(url, session.token, conversation_id)["links"]
            assert {"target": {"name": "Globex"}} in links
        screenshot(page, "bulk")


def test_unlink_and_forget_show_their_results_and_refusals(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        [conversation_id] = unstored(rows(url, session.token), 1)
        view = open_conversation(page, conversation_id)
        view.get_by_role("button", name="Link…").click()
        page.get_by_label("Search contacts and companies").fill("Acme")
        page.get_by_role("list", name="Companies").get_by_role("button", name="Acme Corp").click()
        view.locator(".conversation-state .badge.link", has_text="Acme Corp").wait_for()

        # A linked conversation's copy is kept unless unlinked too: the refusal is shown.
        view.get_by_role("button", name="Forget…").click()
        view.get_by_role("button", name="Forget", exact=True).click()
        page.locator(".notice-error", has_text="Forget failed").wait_for()
        assert conversation(url, session.token, conversation_id)["storage"]["stored"] is True

        view.get_by_role("button", name="Unlink Acme Corp").click()
        page.locator(".notice-ok", has_text="Unlinked from Acme Corp").wait_for()
        row(page, conversation_id).locator(".badge.link").wait_for(state="detached")
        assert conversation(url, session.token, conversation_id)["links"] == []

        view.get_by_role("button", name="Forget…").click()
        view.get_by_role("button", name="Forget", exact=True).click()
        page.locator(".notice-ok", has_text="Stored copy forgotten").wait_for()
        row(page, conversation_id).locator('.storage-badge[data-stored="false"]').wait_for()
        assert conversation(url, session.token, conversation_id)["storage"]["stored"] is False
        screenshot(page, "forgotten")
        # The refusal was an answer shown to the user, not a failure of the page.
        assert not session.watch.console_errors


def test_a_contact_created_from_a_participant_becomes_its_match(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        [(conversation_id, participant)] = [
            (r["id"], p)
            for r in rows(url, session.token, {"channels": ["EMAIL"]})
            for p in r["participants"]
            if not p["isSelf"] and p["displayName"] and not (p["crmMatch"] or {}).get("contact")
        ][:1]
        page.get_by_label("Channel").select_option("EMAIL")
        row(page, conversation_id).wait_for()
        view = open_conversation(page, conversation_id)
        person = view.locator(".people li", has_text=participant["displayName"]).first
        person.get_by_role("button", name="Create contact").click()
        page.locator(".notice-ok", has_text="created").wait_for()
        person.locator(".match", has_text=participant["displayName"]).wait_for()
        found = conversation(url, session.token, conversation_id)["participants"]
        [match] = [p for p in found if p["identifier"] == participant["identifier"]]
        assert match["crmMatch"]["contact"]["name"] == participant["displayName"]


def test_a_chat_message_and_an_email_reply_are_sent(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        found = rows(url, session.token)
        chat = next(r["id"] for r in found if r["channel"] == "WHATSAPP")
        email = next(r["id"] for r in found if r["channel"] == "EMAIL")
        text = f"Sent from the inbox test {time.time_ns()}"

        view = open_conversation(page, chat)
        view.get_by_label("Message").fill(text)
        view.get_by_role("button", name="Send").click()
        page.locator(".notice-ok", has_text="Message sent").wait_for()
        view.locator(".message-outbound .message-text", has_text=text).wait_for()

        view = open_conversation(page, email)
        view.get_by_label("Reply to all").fill(f"Reply: {text}")
        view.get_by_role("button", name="Reply all").click()
        page.locator(".notice-ok", has_text="Reply sent to all").wait_for()
        messages = conversation(url, session.token, email)["messages"]["edges"]
        assert any(
            edge["node"]["direction"] == "OUTBOUND" and text in (edge["node"]["html"] or "")
            for edge in messages
        ), messages


def test_an_accounts_status_changes_live(chromium: Browser, app_server: tuple[str, str]) -> None:
    url, sandbox = app_server
    with signed_in(chromium, url) as session:
        page = session.page
        accounts = api(url, session.token, ACCOUNTS)["accounts"]
        [gmail] = [account["id"] for account in accounts if account["externalId"] == GMAIL_ID]
        chip = page.locator(f'.accounts [data-account-id="{gmail}"]')
        assert chip.get_attribute("data-status") == "OK"
        wait_for_subscriptions(session)
        status = f"{sandbox}/_sandbox/accounts/{GMAIL_ID}/status"
        try:
            changed = httpx.post(status, json={"status": "CREDENTIALS"}, timeout=10)
            assert changed.status_code == 200, changed.text
            page.locator(
                f'.accounts [data-account-id="{gmail}"][data-status="CREDENTIALS"]'
            ).wait_for(timeout=5_000)
            screenshot(page, "account-status")
        finally:
            httpx.post(status, json={"status": "RECONNECTED"}, timeout=10)
        page.locator(f'.accounts [data-account-id="{gmail}"][data-status="OK"]').wait_for(
            timeout=5_000
        )


def test_a_refused_token_is_shown_on_the_sign_in_step(
    chromium: Browser, app_server: tuple[str, str]
) -> None:
    url, _ = app_server
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{url}/")
        page.locator("#token").fill("not-a-token")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        alert.wait_for(timeout=10_000)
        assert "UNAUTHENTICATED" in alert.inner_text()
        assert page.evaluate("() => sessionStorage.getItem('switchboard.token')") is None
    finally:
        context.close()

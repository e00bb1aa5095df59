"""The live cache seen from outside: what a page costs upstream cold and warm, one call for many
readers, each webhook kind ending its account's cached pages, the last good page standing in when
UniPile fails, stored conversations served when an account cannot be listed, and pre-fetching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.vocabulary import ReceiptState
from db.models import WebhookReceipt
from server.app import create_app
from server.webhooks import register_webhooks
from tests.graphql_ws import subscribe
from tests.inbox.conftest import SANDBOX_KEY, WEBHOOK_SECRET, Inbox, inbox_settings
from tests.inbox.test_conversations import ALICE_ACCOUNTS, PAGE, hold_automatic_storage
from tests.realtime.conftest import eventually
from tests.storing.test_conversation_mutations import STORE, mutate
from unipile import UnipileClient
from unipile.sandbox.testing import running_app

GMAIL, OUTLOOK, LINKEDIN, WHATSAPP = ALICE_ACCOUNTS
LISTS = ("GET /api/v1/chats", "GET /api/v1/emails")
LIVE = """
query Live($first: Int, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { node { id externalId source fetchedAt lastMessageAt lastMessagePreview
      account { externalId } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
UPDATES = "subscription { conversationUpdated { change conversationId } }"


def cached_app_settings(database: str, data_dir: Path, sandbox_url: str) -> Any:
    return inbox_settings(database, data_dir, sandbox_url, {"LIVE_CACHE_SECONDS": "60"})


@pytest.fixture
async def cached(
    database: str, demo_tokens: dict[str, str], sandbox_url: str, tmp_path: Path
) -> AsyncIterator[Inbox]:
    """A server with the live cache at its default freshness, told of changes by webhooks."""
    app = create_app(cached_app_settings(database, tmp_path, sandbox_url))
    with running_app(app) as url:
        async with httpx.AsyncClient() as http:
            client = UnipileClient(http, sandbox_url, SANDBOX_KEY)
            await register_webhooks(client, url=url, secret=WEBHOOK_SECRET)
        yield Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)


async def list_calls(inbox: Inbox) -> dict[str, int]:
    """List requests per account since the last look, which resets the counters."""
    async with httpx.AsyncClient(base_url=inbox.sandbox) as admin:
        accounts = (await admin.get("/_sandbox/stats/accounts")).json()["accounts"]
        await admin.post("/_sandbox/stats/reset")
    return {
        account: sum(count for route, count in routes.items() if route in LISTS)
        for account, routes in accounts.items()
        if any(route in LISTS for route in routes)
    }


async def processed(before: int) -> None:
    """Wait until a receipt past the `before` processed ones was processed."""

    async def one_more() -> bool:
        return await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count() > before

    await eventually(one_more, within=10)


async def webhook(inbox: Inbox, payload: dict[str, Any]) -> None:
    """Deliver a webhook as UniPile does, and wait for it to be processed."""
    before = await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count()
    async with httpx.AsyncClient(base_url=inbox.url) as client:
        response = await client.post(
            "/webhooks/unipile", json=payload, headers={"Unipile-Auth": WEBHOOK_SECRET}
        )
    assert response.json()["status"] == "recorded", response.text
    await processed(before)


def nodes(result: dict[str, Any]) -> list[dict[str, Any]]:
    assert result["data"] is not None, result
    return [edge["node"] for edge in result["data"]["conversations"]["edges"]]


def codes_by_account(result: dict[str, Any]) -> dict[str, str]:
    return {
        error["extensions"]["accountExternalId"]: error["extensions"]["code"]
        for error in result.get("errors", ())
    }


async def first_chat(inbox: Inbox, account: str) -> dict[str, Any]:
    page = nodes(await inbox.query(LIVE, {"first": 50}))
    return next(node for node in page if node["account"]["externalId"] == account)


async def test_a_warm_page_costs_no_upstream_call(cached: Inbox) -> None:
    await hold_automatic_storage()
    await cached.upstream_stats()
    cold = await cached.query(PAGE, {"first": 50})
    upstream = await cached.upstream_stats()
    # One list per account, and the members of the page's group chat.
    assert cold["extensions"]["cost"]["upstreamRequests"] == upstream["total"]
    assert upstream["requests"]["GET /api/v1/chats"] + upstream["requests"][
        "GET /api/v1/emails"
    ] == len(ALICE_ACCOUNTS)
    warm = await cached.query(PAGE, {"first": 50})
    assert warm["extensions"]["cost"]["upstreamRequests"] == 0
    assert (await cached.upstream_stats())["total"] == 0
    assert [e["node"] for e in warm["data"]["conversations"]["edges"]] == [
        e["node"] for e in cold["data"]["conversations"]["edges"]
    ]


async def test_pages_up_to_fifty_share_one_cached_list(cached: Inbox) -> None:
    await hold_automatic_storage()
    await list_calls(cached)
    fifty = nodes(await cached.query(LIVE, {"first": 50}))
    twenty = nodes(await cached.query(LIVE, {"first": 20}))
    assert twenty == fifty[:20]
    assert await list_calls(cached) == dict.fromkeys(ALICE_ACCOUNTS, 1)


async def test_concurrent_identical_reads_share_one_upstream_call(cached: Inbox) -> None:
    await hold_automatic_storage()
    await cached.sandbox_post("/_sandbox/faults", {"latency_ms": 200})
    await list_calls(cached)
    results = await asyncio.gather(*(cached.query(LIVE, {"first": 50}) for _ in range(8)))
    assert all(len(nodes(result)) == 50 and "errors" not in result for result in results)
    assert len({str(nodes(result)) for result in results}) == 1
    assert await list_calls(cached) == dict.fromkeys(ALICE_ACCOUNTS, 1)


@pytest.mark.parametrize(
    ("account", "key", "text"),
    [(LINKEDIN, "chat_id", "fresh off the wire"), (GMAIL, "thread_id", "a reply")],
    ids=["message", "email"],
)
async def test_a_new_message_or_email_webhook_ends_its_account_cached_page(
    cached: Inbox, account: str, key: str, text: str
) -> None:
    await hold_automatic_storage()
    conversation = await first_chat(cached, account)
    await list_calls(cached)
    before = await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count()
    # The sandbox delivers the message_received or mail_received webhook, as UniPile does.
    await cached.sandbox_post(
        "/_sandbox/messages",
        {"account_id": account, key: conversation["externalId"], "text": text},
    )
    await processed(before)
    await list_calls(cached)
    page = nodes(await cached.query(LIVE, {"first": 50}))
    assert page[0]["externalId"] == conversation["externalId"]
    assert page[0]["lastMessageAt"] > conversation["lastMessageAt"]
    assert await list_calls(cached) == {account: 1}


@pytest.mark.parametrize("event", ["message_read", "message_reaction"])
async def test_read_and_reaction_webhooks_end_their_account_cached_page(
    cached: Inbox, event: str
) -> None:
    await hold_automatic_storage()
    chat = await first_chat(cached, LINKEDIN)
    await webhook(
        cached,
        {
            "event": event,
            "account_id": LINKEDIN,
            "account_type": "LINKEDIN",
            "chat_id": chat["externalId"],
            "message_id": "msg-any",
            "timestamp": "2026-11-25T10:00:00.000Z",
        },
    )
    await list_calls(cached)
    await cached.query(LIVE, {"first": 50})
    assert await list_calls(cached) == {LINKEDIN: 1}


async def test_an_account_status_webhook_ends_its_account_cached_page(cached: Inbox) -> None:
    await hold_automatic_storage()
    await cached.query(LIVE, {"first": 50})
    before = await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count()
    await cached.sandbox_post(f"/_sandbox/accounts/{OUTLOOK}/status", {"status": "CREDENTIALS"})
    await processed(before)
    await list_calls(cached)
    result = await cached.query(LIVE, {"first": 50})
    assert (await list_calls(cached)).keys() == {OUTLOOK}
    outlook = [n for n in nodes(result) if n["account"]["externalId"] == OUTLOOK]
    assert outlook, "the last good page of a failing account stands in"
    assert {n["source"] for n in outlook} == {"STALE"}
    assert codes_by_account(result) == {OUTLOOK: "ACCOUNT_DISCONNECTED"}


async def test_the_last_good_page_stands_in_when_unipile_fails(cached: Inbox) -> None:
    await hold_automatic_storage()
    good = nodes(await cached.query(LIVE, {"first": 50}))
    await cached.sandbox_post("/_sandbox/faults", {"error_rate": 1.0})
    chat = next(n for n in good if n["account"]["externalId"] == LINKEDIN)
    await webhook(
        cached,
        {
            "event": "message_reaction",
            "account_id": LINKEDIN,
            "chat_id": chat["externalId"],
            "message_id": "m",
            "reaction": "+1",
        },
    )
    result = await cached.query(LIVE, {"first": 50})
    served = nodes(result)
    assert [n["id"] for n in served] == [n["id"] for n in good]
    by_account = {n["id"]: n for n in good}
    for node in served:
        stale = node["account"]["externalId"] == LINKEDIN
        assert node["source"] == ("STALE" if stale else "LIVE")
        assert node["fetchedAt"] == by_account[node["id"]]["fetchedAt"]
    assert codes_by_account(result) == {LINKEDIN: "UPSTREAM_UNAVAILABLE"}


async def test_without_a_copy_a_failing_account_is_served_from_its_stored_conversations(
    database: str, demo_tokens: dict[str, str], sandbox_url: str, tmp_path: Path
) -> None:
    """Stored conversations never vanish: a server that never listed the account (an empty
    cache) shows its stored copies, in the live order, marked STORED, and pages on exactly when
    the account is back."""
    await hold_automatic_storage()
    settings = cached_app_settings(database, tmp_path, sandbox_url)
    with running_app(create_app(settings)) as url:
        inbox = Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)
        listed = nodes(await inbox.query(LIVE, {"first": 50}))
        for node in [n for n in listed if n["account"]["externalId"] in (GMAIL, LINKEDIN)][:8]:
            stored = await mutate(inbox, STORE, {"conversationId": node["id"]})
            assert "errors" not in stored, stored
        reference = nodes(await inbox.query(LIVE, {"first": 50, "filter": {"stored": True}}))
    assert len(reference) == 8
    with running_app(create_app(settings)) as url:
        inbox = Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)
        await inbox.sandbox_post("/_sandbox/faults", {"disconnected_accounts": [GMAIL]})
        down = await inbox.query(LIVE, {"first": 3, "filter": {"stored": True}})
        await inbox.sandbox_post("/_sandbox/faults", {"disconnected_accounts": []})
        seen = nodes(down)
        after = down["data"]["conversations"]["pageInfo"]["endCursor"]
        while after is not None:
            more = await inbox.query(LIVE, {"first": 3, "after": after, "filter": {"stored": True}})
            assert "errors" not in more, more
            seen += nodes(more)
            info = more["data"]["conversations"]["pageInfo"]
            after = info["endCursor"] if info["hasNextPage"] else None
    assert codes_by_account(down) == {GMAIL: "ACCOUNT_DISCONNECTED"}
    assert [n["id"] for n in seen] == [n["id"] for n in reference]
    first_page = nodes(down)
    for node in first_page:
        gmail = node["account"]["externalId"] == GMAIL
        assert node["source"] == ("STORED" if gmail else "LIVE")
        assert (node["fetchedAt"] is None) == gmail


ONE = """query($id: ID!) { conversation(id: $id) {
  id source fetchedAt account { externalId }
  messages(first: 5) { edges { node { id text } } } } }"""


async def test_a_stored_conversation_opens_from_its_copy_while_its_account_fails(
    inbox: Inbox,
) -> None:
    await hold_automatic_storage()
    gmail = [
        n
        for n in nodes(await inbox.query(LIVE, {"first": 50}))
        if n["account"]["externalId"] == GMAIL
    ]
    kept, unkept = gmail[0]["id"], gmail[1]["id"]
    assert "errors" not in await mutate(inbox, STORE, {"conversationId": kept})
    opened = await inbox.query(ONE, {"id": kept})
    assert "errors" not in opened and opened["data"]["conversation"]["source"] == "LIVE"
    await inbox.sandbox_post("/_sandbox/faults", {"disconnected_accounts": [GMAIL]})
    try:
        down = await inbox.query(ONE, {"id": kept})
        missing = await inbox.query(ONE, {"id": unkept})
    finally:
        await inbox.sandbox_post("/_sandbox/faults", {"disconnected_accounts": []})
    assert codes_by_account(down) == {GMAIL: "ACCOUNT_DISCONNECTED"}
    conversation = down["data"]["conversation"]
    assert (conversation["source"], conversation["fetchedAt"]) == ("STORED", None)
    assert conversation["messages"] == opened["data"]["conversation"]["messages"]
    assert conversation["messages"]["edges"], "the stored copy has its messages"
    assert codes_by_account(missing) == {GMAIL: "ACCOUNT_DISCONNECTED"}
    assert missing["data"] == {"conversation": None}


async def test_a_connected_user_opens_the_inbox_without_an_upstream_call(cached: Inbox) -> None:
    await hold_automatic_storage()
    await list_calls(cached)
    async with subscribe(cached.url, cached.tokens["alice"], UPDATES):
        await prefetched(cached, set(ALICE_ACCOUNTS))
        opened = await cached.query(PAGE, {"first": 50})
        assert opened["extensions"]["cost"]["upstreamRequests"] == 0
        chat = await first_chat(cached, LINKEDIN)
        before = await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count()
        await cached.sandbox_post(
            "/_sandbox/messages",
            {"account_id": LINKEDIN, "chat_id": chat["externalId"], "text": "pre-fetched"},
        )
        await processed(before)
        await prefetched(cached, {LINKEDIN})
        refreshed = await cached.query(LIVE, {"first": 50})
        assert refreshed["extensions"]["cost"]["upstreamRequests"] == 0
        assert nodes(refreshed)[0]["externalId"] == chat["externalId"]
        assert nodes(refreshed)[0]["lastMessageAt"] > chat["lastMessageAt"]


async def prefetched(inbox: Inbox, accounts: set[str]) -> None:
    """Wait until the server listed each of these accounts, unasked."""
    listed: set[str] = set()

    async def all_listed() -> bool:
        listed.update(await list_calls(inbox))
        return listed == accounts

    await eventually(all_listed, within=10)

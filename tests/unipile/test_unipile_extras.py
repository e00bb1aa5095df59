"""The sandbox's optional data: a second tenant in the same organisation, and a bulk mailbox.

Both are off by default; turning them on adds accounts without changing the demo's own data.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.unipile.unipile_testkit import API_KEY, GMAIL, OUTLOOK, WHATSAPP, collect
from unipile import UnipileClient
from unipile._identifiers import WHATSAPP_GROUP_SUFFIX
from unipile.sandbox import SandboxSettings, build_bulk_mailbox, build_demo, build_rival
from unipile.sandbox.demo import (
    ANCHOR,
    BULK_GMAIL_ID,
    RIVAL_GMAIL_ID,
    RIVAL_WHATSAPP_ID,
    SPAN,
    combine_demos,
)
from unipile.sandbox.testing import running_sandbox

DEMO_IDS = {GMAIL, OUTLOOK, WHATSAPP, "acc_linkedin_demo_0001", "acc_whatsapp_demo_0002"}
RIVAL = build_rival(7)
BULK_THREADS = 6000


async def account_ids(url: str) -> set[str]:
    async with httpx.AsyncClient() as http:
        accounts = (await UnipileClient(http, url, API_KEY).list_accounts()).items
    return {account.id for account in accounts}


async def test_the_default_sandbox_serves_the_demo_accounts_only(sandbox_url: str) -> None:
    assert await account_ids(sandbox_url) == DEMO_IDS


def test_the_rival_tenant_is_deterministic_and_apart_from_the_demo() -> None:
    assert build_rival(7) == RIVAL
    assert build_rival(8).emails != RIVAL.emails
    assert {(a.id, a.type, a.owner, a.shared) for a in RIVAL.accounts} == {
        (RIVAL_GMAIL_ID, "GOOGLE_OAUTH", "carol", False),
        (RIVAL_WHATSAPP_ID, "WHATSAPP", "dave", False),
    }
    demo = build_demo(7)
    lengths = {a.type: len(a.id) for a in demo.accounts}
    assert all(len(a.id) == lengths[a.type] for a in RIVAL.accounts)
    assert not {c["id"] for c in RIVAL.chats} & {c["id"] for c in demo.chats}
    assert not {e["thread_id"] for e in RIVAL.emails} & {e["thread_id"] for e in demo.emails}
    # Turning the rival on adds to the demo; it changes nothing of it.
    combined = combine_demos(demo, RIVAL)
    assert combined.chats[: len(demo.chats)] == demo.chats
    assert combined.emails[: len(demo.emails)] == demo.emails
    assert combined.crm == demo.crm


def test_the_rival_tenant_has_every_kind_of_conversation() -> None:
    chats = [c for c in RIVAL.chats if c["account_id"] == RIVAL_WHATSAPP_ID]
    groups = [c for c in chats if c["type"] == 1]
    assert groups and all(c["provider_id"].endswith(WHATSAPP_GROUP_SUFFIX) for c in groups)
    assert len(chats) - len(groups) >= 20
    assert all(len(RIVAL.chat_attendee_ids[g["id"]]) >= 3 for g in groups)
    threads = Counter(e["thread_id"] for e in RIVAL.emails)
    assert len(threads) >= 30 and max(threads.values()) >= 3
    assert all(e["account_id"] == RIVAL_GMAIL_ID for e in RIVAL.emails)
    # Its CRM matches its own conversations: each contact's address wrote or was written to.
    addresses = {e["from_attendee"]["identifier"] for e in RIVAL.emails} | {
        a["identifier"] for e in RIVAL.emails for a in e["to_attendees"]
    }
    assert RIVAL.crm.contacts and all(c.emails[0] in addresses for c in RIVAL.crm.contacts)
    # One address is a contact of both tenants' CRMs.
    demo_addresses = {email for c in build_demo(7).crm.contacts for email in c.emails}
    assert {email for c in RIVAL.crm.contacts for email in c.emails} & demo_addresses


async def test_the_rival_accounts_are_served_beside_the_demo_ones() -> None:
    settings = SandboxSettings(api_key=API_KEY, rival_tenant=True)
    with running_sandbox(settings) as url:
        assert await account_ids(url) == DEMO_IDS | {RIVAL_GMAIL_ID, RIVAL_WHATSAPP_ID}
        async with httpx.AsyncClient() as http:
            client = UnipileClient(http, url, API_KEY)
            rival_chats = await collect(
                lambda cursor: client.list_chats(account_id=RIVAL_WHATSAPP_ID, cursor=cursor)
            )
            demo_chats = await collect(
                lambda cursor: client.list_chats(account_id=WHATSAPP, cursor=cursor)
            )
            rival_mail = await collect(
                lambda cursor: client.list_emails(account_id=RIVAL_GMAIL_ID, cursor=cursor)
            )
    assert {c.id for c in rival_chats} == {
        c["id"] for c in RIVAL.chats if c["account_id"] == RIVAL_WHATSAPP_ID
    }
    assert len(demo_chats) == sum(c["account_id"] == WHATSAPP for c in build_demo(7).chats)
    assert {e.id for e in rival_mail} == {e["id"] for e in RIVAL.emails}


def test_the_bulk_mailbox_builds_as_asked() -> None:
    bulk = build_bulk_mailbox(7, BULK_THREADS)
    assert [a.id for a in bulk.accounts] == [BULK_GMAIL_ID]
    threads = Counter(e["thread_id"] for e in bulk.emails)
    assert len(threads) == BULK_THREADS
    assert set(threads.values()) == {1, 2, 3}
    dates = [e["date"] for e in bulk.emails]
    assert len(set(dates)) == len(dates)
    start = (ANCHOR - SPAN).isoformat().replace("+00:00", ".000Z")
    end = ANCHOR.isoformat().replace("+00:00", ".000Z")
    assert all(start < date < end for date in dates)
    unread = [e for e in bulk.emails if e["read_date"] is None]
    assert 0 < len(unread) < len(bulk.emails) / 2
    assert all(e["role"] == "inbox" for e in unread)
    # A thread's emails follow each other in time, each replying to the one before.
    by_id = {e["id"]: e for e in bulk.emails}
    for email in bulk.emails:
        if "in_reply_to" in email:
            parent = by_id[email["in_reply_to"]["id"]]
            assert parent["thread_id"] == email["thread_id"] and parent["date"] < email["date"]
    assert build_bulk_mailbox(7, 50) == build_bulk_mailbox(7, 50)


@pytest.fixture(scope="module")
def bulk_sandbox() -> Iterator[str]:
    settings = SandboxSettings(api_key=API_KEY, bulk_mailbox_threads=BULK_THREADS)
    with running_sandbox(settings) as url:
        yield url


async def test_the_bulk_mailbox_pages_fast_newest_first(bulk_sandbox: str) -> None:
    async with httpx.AsyncClient() as http:
        client = UnipileClient(http, bulk_sandbox, API_KEY)
        started = time.perf_counter()
        emails = await collect(
            lambda cursor: client.list_emails(
                account_id=BULK_GMAIL_ID, meta_only=True, limit=200, cursor=cursor
            )
        )
        elapsed = time.perf_counter() - started
        demo_mail = await collect(
            lambda cursor: client.list_emails(account_id=GMAIL, limit=250, cursor=cursor)
        )
    assert elapsed < 5.0, f"paging the bulk mailbox took {elapsed:.1f} s"
    assert len({e.thread_id for e in emails}) == BULK_THREADS
    keys = [(e.date, e.id) for e in emails]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    assert {e.account_id for e in emails} == {BULK_GMAIL_ID}
    assert demo_mail and {e.account_id for e in demo_mail} == {GMAIL}


async def test_emails_posted_live_come_first_in_their_account(bulk_sandbox: str) -> None:
    async with httpx.AsyncClient() as http:
        client = UnipileClient(http, bulk_sandbox, API_KEY)
        before = (await client.list_emails(account_id=BULK_GMAIL_ID, limit=2)).items
        posted = await http.post(
            f"{bulk_sandbox}/_sandbox/messages",
            json={"account_id": BULK_GMAIL_ID, "thread_id": before[1].thread_id, "text": "new"},
        )
        assert posted.status_code == 201
        after = (await client.list_emails(account_id=BULK_GMAIL_ID, limit=3)).items
        thread = (
            await client.list_emails(account_id=BULK_GMAIL_ID, thread_id=before[1].thread_id)
        ).items
        everyone = (await client.list_emails(limit=1)).items
    assert [e.id for e in after] == [posted.json()["id"], before[0].id, before[1].id]
    assert thread[0].id == posted.json()["id"]
    assert everyone[0].id == posted.json()["id"]


async def test_requests_are_counted_per_account(
    client: UnipileClient, admin: httpx.AsyncClient
) -> None:
    await admin.post("/_sandbox/stats/reset")
    chat = (await client.list_chats(account_id=WHATSAPP, limit=1)).items[0]
    await client.get_chat(chat.id)
    await client.list_chat_messages(chat.id, limit=2)
    await client.list_emails(account_id=f"{GMAIL},{OUTLOOK}", limit=1)
    await client.list_chats(limit=1)
    await client.list_webhooks()
    by_account = (await admin.get("/_sandbox/stats/accounts")).json()["accounts"]
    assert by_account == {
        WHATSAPP: {
            "GET /api/v1/chats": 1,
            "GET /api/v1/chats/{chat_id}": 1,
            "GET /api/v1/chats/{chat_id}/messages": 1,
        },
        GMAIL: {"GET /api/v1/emails": 1},
        OUTLOOK: {"GET /api/v1/emails": 1},
        "*": {"GET /api/v1/chats": 1},
    }
    # The route counts keep their shape; a reset clears both.
    assert (await admin.get("/_sandbox/stats")).json()["total"] == 6
    await admin.post("/_sandbox/stats/reset")
    assert (await admin.get("/_sandbox/stats/accounts")).json() == {"accounts": {}}

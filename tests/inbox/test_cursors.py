"""Inbox and message cursors: sealed, bounded, resuming after every edge, never dropping or
repeating a conversation, whatever the depth or the page size."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.vocabulary import Channel
from db.models import Account, User
from inbox.records import thread_id_of
from server.app import create_app
from tests.inbox.conftest import SANDBOX_KEY, Inbox, inbox_settings
from tests.inbox.test_conversations import hold_automatic_storage
from unipile import Email
from unipile.sandbox import SandboxSettings, build_bulk_mailbox
from unipile.sandbox.testing import running_app, running_sandbox

MAX_CURSOR = 512
BULK_THREADS = 6000
BULK_ID = "acc_gmail_bulk_000001"
GMAIL = "acc_gmail_demo_000001"

EDGES = """
query($first: Int, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id unreadCount hasAttachments participants { identifier role } } }
    pageInfo { hasNextPage startCursor endCursor }
  }
}
"""
MESSAGES = """
query($id: ID!, $first: Int, $after: String) {
  conversation(id: $id) {
    messages(first: $first, after: $after) {
      edges { cursor node { id } }
      pageInfo { hasNextPage startCursor endCursor }
    }
  }
}
"""


async def pages(
    inbox: Inbox, first: int, filter: dict[str, Any] | None = None, user: str = "alice"
) -> AsyncIterator[dict[str, Any]]:
    """Every page of the inbox, in order."""
    after = None
    for _ in range(1000):
        result = await inbox.query(EDGES, {"first": first, "after": after, "filter": filter}, user)
        assert "errors" not in result, result["errors"]
        connection: dict[str, Any] = result["data"]["conversations"]
        yield connection
        if not connection["pageInfo"]["hasNextPage"]:
            return
        after = connection["pageInfo"]["endCursor"]
    pytest.fail("paging does not end")


async def walk(inbox: Inbox, first: int, filter: dict[str, Any] | None = None) -> list[Any]:
    return [edge async for page in pages(inbox, first, filter) for edge in page["edges"]]


def code_and_reason(result: dict[str, Any]) -> tuple[str, str | None]:
    [error] = result["errors"]
    return error["extensions"]["code"], error["extensions"].get("reason")


async def test_page_info_names_the_first_and_last_edges(inbox: Inbox) -> None:
    await hold_automatic_storage()
    async for page in pages(inbox, 40):
        edges, info = page["edges"], page["pageInfo"]
        assert edges, "no page is empty while the inbox has conversations"
        assert info["startCursor"] == edges[0]["cursor"]
        assert info["endCursor"] == edges[-1]["cursor"]
        assert all(len(edge["cursor"]) <= MAX_CURSOR for edge in edges)


async def test_every_edge_resumes_right_after_itself(inbox: Inbox) -> None:
    await hold_automatic_storage()
    reference = [edge["node"]["id"] for edge in await walk(inbox, 100)]
    first = await inbox.query(EDGES, {"first": 12})
    edges = first["data"]["conversations"]["edges"]
    for index, edge in enumerate(edges):
        result = await inbox.query(EDGES, {"first": 5, "after": edge["cursor"]})
        following = [e["node"]["id"] for e in result["data"]["conversations"]["edges"]]
        assert following == reference[index + 1 : index + 6]


async def test_a_replayed_cursor_gives_the_same_page(inbox: Inbox) -> None:
    await hold_automatic_storage()
    first = await inbox.query(EDGES, {"first": 30})
    after = first["data"]["conversations"]["pageInfo"]["endCursor"]
    once = await inbox.query(EDGES, {"first": 30, "after": after})
    again = await inbox.query(EDGES, {"first": 30, "after": after})
    ids = [[e["node"]["id"] for e in r["data"]["conversations"]["edges"]] for r in (once, again)]
    assert ids[0] == ids[1] and len(ids[0]) == 30


async def test_the_same_page_asked_again_reissues_its_cursors(inbox: Inbox) -> None:
    """Reloading the inbox adds no page record: its cursors name the record it wrote before."""
    await hold_automatic_storage()
    cursors = []
    for _ in range(3):
        result = await inbox.query(EDGES, {"first": 20})
        cursors.append([edge["cursor"] for edge in result["data"]["conversations"]["edges"]])
    assert cursors[0] == cursors[1] == cursors[2] and len(cursors[0]) == 20
    after = cursors[0][-1]
    second = await inbox.query(EDGES, {"first": 20, "after": after})
    again = await inbox.query(EDGES, {"first": 20, "after": after})
    assert second["data"] == again["data"]
    assert [e["cursor"] for e in second["data"]["conversations"]["edges"]] != cursors[0]


async def test_walks_that_began_alike_each_drop_and_repeat_nothing(inbox: Inbox) -> None:
    """Two walks from the same first page share what they showed, one running ahead."""
    await hold_automatic_storage()
    reference = [edge["node"]["id"] for edge in await walk(inbox, 100)]
    ahead = await walk(inbox, 15)
    behind = await walk(inbox, 15)
    for walked in (ahead, behind):
        assert [edge["node"]["id"] for edge in walked] == reference


@pytest.mark.parametrize(
    "filter",
    [None, {"unread": True}, {"channels": ["EMAIL"]}],
    ids=["none", "unread", "email"],
)
async def test_a_threads_facts_do_not_depend_on_the_page_size(
    inbox: Inbox, filter: dict[str, Any] | None
) -> None:
    await hold_automatic_storage()
    small = {edge["node"]["id"]: edge["node"] for edge in await walk(inbox, 3, filter)}
    large = {edge["node"]["id"]: edge["node"] for edge in await walk(inbox, 100, filter)}
    assert small == large


def tampered(cursor: str) -> str:
    payload, _, mac = cursor.partition(".")
    flipped = "A" if payload[0] != "A" else "B"
    return f"{flipped}{payload[1:]}.{mac}"


def forged_legacy_cursor(account: str) -> str:
    """The old format: the server forwarded the UniPile cursor, which names its account."""
    upstream = {"filters": {"account_id": account}, "limit": 20, "cursor": None}
    encoded = base64.b64encode(orjson.dumps(upstream)).decode()
    legacy = {"v": 1, "f": "x", "a": {account: {"u": encoded, "p": None, "x": False, "s": []}}}
    return base64.urlsafe_b64encode(orjson.dumps(legacy)).decode()


async def test_a_cursor_is_sealed_to_its_viewer_and_its_list(inbox: Inbox) -> None:
    alice = await inbox.query(EDGES, {"first": 5})
    cursor = alice["data"]["conversations"]["pageInfo"]["endCursor"]
    bad = {
        "tampered": (tampered(cursor), None, "alice"),
        "another user's": (cursor, None, "bob"),
        "another filter's": (cursor, {"unread": True}, "alice"),
        "forged in the old format": (forged_legacy_cursor(GMAIL), None, "bob"),
        "garbage": ("x" * 10_000, None, "alice"),
        "not ASCII": ("é.é", None, "alice"),
    }
    await inbox.upstream_stats()
    for name, (after, filter, user) in bad.items():
        result = await inbox.query(EDGES, {"first": 5, "after": after, "filter": filter}, user)
        assert result["data"] is None, name
        assert code_and_reason(result) == ("BAD_USER_INPUT", "CURSOR_INVALID"), name
    assert (await inbox.upstream_stats())["total"] == 0, "a refused cursor reaches UniPile"


async def test_every_account_failing_with_nothing_at_hand_is_no_progress(inbox: Inbox) -> None:
    await hold_automatic_storage()
    await inbox.sandbox_post("/_sandbox/faults", {"error_rate": 1.0})
    result = await inbox.query(EDGES, {"first": 5})
    connection = result["data"]["conversations"]
    assert connection["edges"] == []
    assert connection["pageInfo"] == {"hasNextPage": False, "startCursor": None, "endCursor": None}
    assert {e["extensions"]["code"] for e in result["errors"]} == {"UPSTREAM_UNAVAILABLE"}


async def test_every_account_failing_pages_on_over_the_last_good_pages(inbox: Inbox) -> None:
    await hold_automatic_storage()
    reference = await inbox.query(EDGES, {"first": 10})
    first = await inbox.query(EDGES, {"first": 5})
    after = first["data"]["conversations"]["pageInfo"]["endCursor"]
    await inbox.sandbox_post("/_sandbox/faults", {"error_rate": 1.0})
    result = await inbox.query(EDGES, {"first": 5, "after": after})
    ids = [e["node"]["id"] for e in result["data"]["conversations"]["edges"]]
    assert ids == [e["node"]["id"] for e in reference["data"]["conversations"]["edges"]][5:]
    assert {e["extensions"]["code"] for e in result["errors"]} == {"UPSTREAM_UNAVAILABLE"}


@pytest.mark.parametrize("account", [GMAIL, "acc_linkedin_demo_0001"])
async def test_live_message_edges_resume_right_after_themselves(inbox: Inbox, account: str) -> None:
    await hold_automatic_storage()
    channels = ["EMAIL"] if account == GMAIL else ["LINKEDIN"]
    listing = await inbox.query(EDGES, {"first": 50, "filter": {"channels": channels}})
    conversation = max(
        (edge["node"] for edge in listing["data"]["conversations"]["edges"]),
        key=lambda node: len(node["participants"]),
    )["id"]
    whole = await inbox.query(MESSAGES, {"id": conversation, "first": 100})
    reference = [e["node"]["id"] for e in whole["data"]["conversation"]["messages"]["edges"]]
    assert len(reference) >= 2
    seen: list[str] = []
    after = None
    while True:
        result = await inbox.query(MESSAGES, {"id": conversation, "first": 1, "after": after})
        connection = result["data"]["conversation"]["messages"]
        edges = connection["edges"]
        assert connection["pageInfo"]["endCursor"] == (edges[-1]["cursor"] if edges else None)
        assert all(edge["cursor"] and len(edge["cursor"]) <= MAX_CURSOR for edge in edges)
        seen.extend(edge["node"]["id"] for edge in edges)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == reference
    first_two = await inbox.query(MESSAGES, {"id": conversation, "first": 2})
    middle = first_two["data"]["conversation"]["messages"]["edges"][0]["cursor"]
    resumed = await inbox.query(MESSAGES, {"id": conversation, "first": 100, "after": middle})
    assert [
        e["node"]["id"] for e in resumed["data"]["conversation"]["messages"]["edges"]
    ] == reference[1:]


async def test_a_message_cursor_belongs_to_its_conversation_and_viewer(inbox: Inbox) -> None:
    listing = await inbox.query(EDGES, {"first": 2, "filter": {"channels": ["EMAIL"]}})
    one, other = (edge["node"]["id"] for edge in listing["data"]["conversations"]["edges"])
    page = await inbox.query(MESSAGES, {"id": one, "first": 1})
    cursor = page["data"]["conversation"]["messages"]["pageInfo"]["endCursor"]
    for conversation, after in ((other, cursor), (one, tampered(cursor))):
        result = await inbox.query(MESSAGES, {"id": conversation, "first": 1, "after": after})
        assert code_and_reason(result) == ("BAD_USER_INPUT", "CURSOR_INVALID")


@pytest.fixture
async def bulk_inbox(
    database: str, demo_tokens: dict[str, str], tmp_path: Path
) -> AsyncIterator[Inbox]:
    """The demo inbox plus alice's mailbox of 6,000 threads."""
    alice = await User.get(email="alice@demo.switchboard.test")
    await Account.create(
        workspace_id=alice.workspace_id,
        owner=alice,
        channel=Channel.EMAIL,
        provider="GOOGLE_OAUTH",
        unipile_id=BULK_ID,
        name="alice.bulk@northwind.fr",
        own_identifiers=[{"kind": "EMAIL", "value": "alice.bulk@northwind.fr"}],
    )
    sandbox = SandboxSettings(api_key=SANDBOX_KEY, bulk_mailbox_threads=BULK_THREADS)
    with running_sandbox(sandbox) as sandbox_url:
        app = create_app(inbox_settings(database, tmp_path, sandbox_url))
        with running_app(app) as url:
            yield Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)


def bulk_thread_ids() -> set[str]:
    demo = build_bulk_mailbox(7, BULK_THREADS)
    return {thread_id_of(Email.from_json(email)) for email in demo.emails}


async def bulk_account_id(inbox: Inbox) -> str:
    result = await inbox.query("{ accounts { id externalId } }")
    return next(a["id"] for a in result["data"]["accounts"] if a["externalId"] == BULK_ID)


# The depth is the subject, not the backend: SQLite alone keeps the suite fast.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_paging_6000_threads_drops_and_repeats_none_with_bounded_cursors(
    bulk_inbox: Inbox,
) -> None:
    await hold_automatic_storage()
    only_bulk = {"accountIds": [await bulk_account_id(bulk_inbox)]}
    edges = await walk(bulk_inbox, 100, only_bulk)
    ids = [edge["node"]["id"] for edge in edges]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    shown = {base64.b64decode(i).decode().split(":", 2)[2] for i in ids}
    assert shown == bulk_thread_ids()
    assert max(len(edge["cursor"]) for edge in edges) <= MAX_CURSOR


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_paging_while_messages_arrive_drops_and_repeats_none(bulk_inbox: Inbox) -> None:
    await hold_automatic_storage()
    only_bulk = {"accountIds": [await bulk_account_id(bulk_inbox)]}
    expected = bulk_thread_ids()
    moved: set[str] = set()
    ids: list[str] = []
    async for page in pages(bulk_inbox, 50, only_bulk):
        ids.extend(edge["node"]["id"] for edge in page["edges"])
        # A thread deeper down gets a reply and moves to the top, and a new thread starts.
        later = sorted(expected - {base64.b64decode(i).decode().split(":", 2)[2] for i in ids})
        if len(ids) % 1000 == 0 and later:
            moved.add(later[len(later) // 2])
            reply = {"account_id": BULK_ID, "thread_id": later[len(later) // 2], "text": "Re"}
            assert (await bulk_inbox.sandbox_post("/_sandbox/messages", reply)).status_code == 201
            fresh = {
                "account_id": BULK_ID,
                "thread_id": f"fresh-{len(ids)}",
                "text": "New",
                "sender": "someone@example.com",
                "subject": "New thread",
            }
            assert (await bulk_inbox.sandbox_post("/_sandbox/messages", fresh)).status_code == 201
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    shown = {base64.b64decode(i).decode().split(":", 2)[2] for i in ids}
    assert moved, "the walk was long enough to move threads"
    assert expected - moved <= shown


@pytest.fixture
def served(
    database: str, demo_tokens: dict[str, str], sandbox_url: str, tmp_path: Path
) -> Callable[..., AbstractContextManager[Inbox]]:
    """Serves the demo inbox with some settings changed; several may run over one sandbox."""

    @contextmanager
    def serve(**changes: Any) -> Iterator[Inbox]:
        settings = replace(inbox_settings(database, tmp_path, sandbox_url), **changes)
        with running_app(create_app(settings)) as url:
            yield Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)

    return serve


async def test_an_expired_cursor_says_so(
    served: Callable[..., AbstractContextManager[Inbox]],
) -> None:
    with served(paging_ttl_seconds=1) as inbox:
        first = await inbox.query(EDGES, {"first": 5})
        after = first["data"]["conversations"]["pageInfo"]["endCursor"]
        await asyncio.sleep(1.5)
        result = await inbox.query(EDGES, {"first": 5, "after": after})
    assert result["data"] is None
    assert code_and_reason(result) == ("BAD_USER_INPUT", "CURSOR_EXPIRED")


@pytest.mark.redis
async def test_with_redis_a_cursor_outlives_the_process_that_issued_it(
    served: Callable[..., AbstractContextManager[Inbox]], redis_url: str
) -> None:
    await hold_automatic_storage()
    with served(redis_url=redis_url) as one:
        first = await one.query(EDGES, {"first": 10})
        after = first["data"]["conversations"]["pageInfo"]["endCursor"]
        here = await one.query(EDGES, {"first": 10, "after": after})
    with served(redis_url=redis_url) as other:
        there = await other.query(EDGES, {"first": 10, "after": after})
    ids = [[e["node"]["id"] for e in r["data"]["conversations"]["edges"]] for r in (here, there)]
    assert ids[0] == ids[1] and len(ids[0]) == 10


async def test_in_memory_a_cursor_lives_as_long_as_its_process(
    served: Callable[..., AbstractContextManager[Inbox]],
) -> None:
    with served() as one:
        first = await one.query(EDGES, {"first": 10})
        after = first["data"]["conversations"]["pageInfo"]["endCursor"]
    with served() as other:
        result = await other.query(EDGES, {"first": 10, "after": after})
    assert code_and_reason(result) == ("BAD_USER_INPUT", "CURSOR_EXPIRED")

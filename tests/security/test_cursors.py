"""Forged and foreign cursors: the inbox's `after` and a conversation's `messages(after:)`.

A cursor is only valid for the viewer, the list and the filter that issued it. Another user's
cursor, a cursor with one character changed, a cursor made by hand in the format the server
used to issue (base64 of JSON holding UniPile's own cursors, which name accounts), and a cursor
of another filter or conversation are all BAD_USER_INPUT; nothing of the other tenant appears in
the answer, and UniPile is not asked about the other tenant's accounts on the attacker's behalf.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import orjson

from tests.security.conftest import (
    ALICE_GMAIL,
    ALICE_PRIVATE,
    ALICE_PRIVATE_MARKERS,
    BOB_WHATSAPP,
    CAROL_GMAIL,
    DAVE_WHATSAPP,
    DEMO,
    DEMO_ACCOUNTS,
    DEMO_MARKERS,
    READ_ROUTES,
    RIVAL,
    RIVAL_ACCOUNTS,
    RIVAL_MARKERS,
    SHARED_LINKEDIN,
    Tenants,
    a_chat,
    a_thread,
    error_codes,
    leaked,
    threads,
)

INBOX = """
query($after: String, $filter: ConversationFilter) {
  conversations(first: 10, after: $after, filter: $filter) {
    edges { cursor node { id externalId subject lastMessagePreview account { externalId }
      participants { identifier displayName } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
MESSAGES = """
query($id: ID!, $after: String) { conversation(id: $id) { id externalId
  messages(first: 1, after: $after) {
    edges { cursor node { id externalId text html sender { identifier } } }
    pageInfo { hasNextPage endCursor } } } }
"""
FAR_FUTURE = "2999-01-01T00:00:00.000Z"


# -- cursors in the formats the server and UniPile used -------------------------------------


def unipile_cursor(filters: dict[str, str], limit: int = 100) -> str:
    """A UniPile list cursor (see unipile/sandbox/_paging.py) from before every item."""
    state = {
        "filters": filters,
        "limit": limit,
        "cursor": {"last_id": "~", "last_date": FAR_FUTURE},
    }
    raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(raw).decode()


def old_filter_key(
    account_pks: tuple[int, ...] = (), channels: tuple[str, ...] = (), unread: bool | None = None
) -> str:
    """The digest the inbox's cursor carried of its filter, as the server computed it."""
    parts = {
        "a": sorted(account_pks),
        "c": sorted(channels),
        "u": unread,
        "m": None,
        "s": None,
        "l": None,
        "f": None,
    }
    return hashlib.blake2b(orjson.dumps(parts), digest_size=8).hexdigest()


def old_inbox_cursor(lanes: Mapping[str, str | None], filter_key: str | None = None) -> str:
    """An inbox cursor in the format the server issued: base64url of JSON, per UniPile account
    id its UniPile cursor ("u"), position ("p"), exhaustion ("x") and threads shown ("s")."""
    payload = {
        "v": 1,
        "f": filter_key or old_filter_key(),
        "a": {
            account: {"u": upstream, "p": None, "x": False, "s": []}
            for account, upstream in lanes.items()
        },
    }
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def old_messages_cursor(upstream: str) -> str:
    """A live messages cursor as the server issued it: base64url of `live:` + UniPile's cursor."""
    return base64.urlsafe_b64encode(f"live:{upstream}".encode()).decode()


def flipped(cursor: str) -> list[str]:
    """The cursor with one character changed, at three places away from any separator. The new
    character ('7', or '3' for a '7') changes the value in base64, base64url and hex alike."""
    variants = []
    for fraction in (0.25, 0.5, 0.75):
        index = int(len(cursor) * fraction)
        while not all(c.isalnum() for c in cursor[index - 1 : index + 2]):
            index += 1
        replacement = "3" if cursor[index] == "7" else "7"
        variants.append(cursor[:index] + replacement + cursor[index + 1 :])
    return variants


# -- helpers ----------------------------------------------------------------------------------


async def inbox_page(
    tenants: Tenants, user: str, after: str | None = None, filter: dict[str, Any] | None = None
) -> dict[str, Any]:
    return await tenants.query(INBOX, {"after": after, "filter": filter}, user=user)


def ids_of(result: dict[str, Any]) -> list[str]:
    return [e["node"]["id"] for e in result["data"]["conversations"]["edges"]]


def refused(result: dict[str, Any], secret: frozenset[str]) -> str | None:
    """Why `result` is not a clean BAD_USER_INPUT refusal (None if it is)."""
    problems = []
    codes = error_codes(result)
    if set(codes) != {"BAD_USER_INPUT"}:
        problems.append(f"codes {codes}")
    data = result.get("data") or {}
    page = data.get("conversations")
    if page and page["edges"]:
        problems.append(f"{len(page['edges'])} conversations returned")
    conversation = data.get("conversation")
    if conversation and conversation.get("messages", {}).get("edges"):
        problems.append(f"{len(conversation['messages']['edges'])} messages returned")
    if found := leaked(result, secret):
        problems.append(f"LEAKED {len(found)} foreign ids, e.g. {sorted(found)[:3]}")
    return "; ".join(problems) or None


def short(cursor: str) -> str:
    return f"{cursor[:12]}…{cursor[-6:]}" if len(cursor) > 24 else repr(cursor)


async def foreign_accounts_named(tenants: Tenants, foreign: frozenset[str]) -> dict[str, Any]:
    """UniPile calls since the last reset that named a foreign account or every account, or
    went to a route no inbox read uses."""
    by_account = await tenants.account_stats()
    named: dict[str, Any] = {
        a: routes for a, routes in by_account.items() if a in foreign or a == "*"
    }
    if unexpected := set(await tenants.route_stats()) - READ_ROUTES:
        named["unexpected routes"] = sorted(unexpected)
    return named


# -- the inbox ----------------------------------------------------------------------------------


async def test_an_inbox_cursor_is_refused_to_anyone_but_its_viewer(tenants: Tenants) -> None:
    carol_first = await inbox_page(tenants, "carol")
    alice_first = await inbox_page(tenants, "alice")
    carol_cursor = carol_first["data"]["conversations"]["pageInfo"]["endCursor"]
    alice_cursor = alice_first["data"]["conversations"]["pageInfo"]["endCursor"]
    # Control: each continues their own inbox with their own cursor.
    for user, first, cursor in (
        ("carol", carol_first, carol_cursor),
        ("alice", alice_first, alice_cursor),
    ):
        second = await inbox_page(tenants, user, cursor)
        assert "errors" not in second, second
        assert ids_of(second) and not set(ids_of(second)) & set(ids_of(first)), user
    failures = []
    await tenants.reset_stats()
    for attacker, cursor, secret, foreign in (
        ("alice", carol_cursor, RIVAL_MARKERS, RIVAL_ACCOUNTS),
        ("bob", carol_cursor, RIVAL_MARKERS, RIVAL_ACCOUNTS),
        ("carol", alice_cursor, DEMO_MARKERS, DEMO_ACCOUNTS),
        ("dave", alice_cursor, DEMO_MARKERS, DEMO_ACCOUNTS),
        # Same workspace, other viewer: alice's cursor carries her private mailboxes' places.
        ("bob", alice_cursor, ALICE_PRIVATE_MARKERS, ALICE_PRIVATE),
    ):
        if why := refused(await inbox_page(tenants, attacker, cursor), secret):
            failures.append(f"{attacker} with another's cursor: {why}")
        if named := await foreign_accounts_named(tenants, foreign):
            failures.append(f"{attacker} with another's cursor: UniPile asked about {named}")
        await tenants.reset_stats()
    assert not failures, "\n".join(failures)


async def test_a_tampered_or_made_up_inbox_cursor_is_refused(tenants: Tenants) -> None:
    first = await inbox_page(tenants, "carol")
    cursor = first["data"]["conversations"]["pageInfo"]["endCursor"]
    garbage = ["not a cursor", base64.b64encode(b"{}").decode(), cursor[: len(cursor) // 2]]
    failures = []
    await tenants.reset_stats()
    for attempt in [*flipped(cursor), *garbage]:
        if why := refused(await inbox_page(tenants, "carol", attempt), DEMO_MARKERS):
            failures.append(f"tampered {short(attempt)}: {why}")
        if named := await foreign_accounts_named(tenants, DEMO_ACCOUNTS):
            failures.append(f"tampered {short(attempt)}: UniPile asked about {named}")
        await tenants.reset_stats()
    assert not failures, "\n".join(failures)


async def test_a_hand_made_cursor_naming_another_tenants_account_is_refused(
    tenants: Tenants,
) -> None:
    alice_mail = unipile_cursor({"account_id": ALICE_GMAIL, "meta_only": "true"})
    every_mail = unipile_cursor({"meta_only": "true"})
    bob_chats = unipile_cursor({"account_id": BOB_WHATSAPP})
    every_chat = unipile_cursor({})
    attacks = [
        # The attacker's own lane, resumed from a UniPile cursor over alice's mailbox.
        ("carol", {CAROL_GMAIL: alice_mail}, DEMO_MARKERS, DEMO_ACCOUNTS),
        # ... over every mailbox of the organisation.
        ("carol", {CAROL_GMAIL: every_mail}, DEMO_MARKERS, DEMO_ACCOUNTS),
        # A lane for alice's account itself.
        ("carol", {ALICE_GMAIL: alice_mail}, DEMO_MARKERS, DEMO_ACCOUNTS),
        ("dave", {DAVE_WHATSAPP: bob_chats}, DEMO_MARKERS, DEMO_ACCOUNTS),
        ("dave", {DAVE_WHATSAPP: every_chat}, DEMO_MARKERS, DEMO_ACCOUNTS),
        # bob through the shared LinkedIn: every chat of the organisation, the rival's included.
        ("bob", {SHARED_LINKEDIN: every_chat}, RIVAL_MARKERS, RIVAL_ACCOUNTS),
        (
            "bob",
            {BOB_WHATSAPP: unipile_cursor({"account_id": DAVE_WHATSAPP})},
            RIVAL_MARKERS,
            RIVAL_ACCOUNTS,
        ),
    ]
    failures = []
    await tenants.reset_stats()
    for attacker, lanes, secret, foreign in attacks:
        label = f"{attacker} with {sorted(lanes)}"
        if why := refused(await inbox_page(tenants, attacker, old_inbox_cursor(lanes)), secret):
            failures.append(f"{label}: {why}")
        if named := await foreign_accounts_named(tenants, foreign):
            failures.append(f"{label}: UniPile asked about {named}")
        await tenants.reset_stats()
    assert not failures, "\n".join(failures)


async def test_a_cursor_of_one_filter_is_refused_with_another(tenants: Tenants) -> None:
    own = {"accountIds": [_account_gid(tenants)]}
    filters: list[dict[str, Any] | None] = [None, {"channels": ["EMAIL"]}, {"unread": True}, own]
    failures = []
    for issued in filters:
        first = await inbox_page(tenants, "carol", filter=issued)
        assert "errors" not in first, first
        cursor = first["data"]["conversations"]["pageInfo"]["endCursor"]
        # Control: it continues the list it came from.
        again = await inbox_page(tenants, "carol", cursor, filter=issued)
        assert "errors" not in again, (issued, again)
        for other in filters:
            if other != issued:
                result = await inbox_page(tenants, "carol", cursor, filter=other)
                if why := refused(result, DEMO_MARKERS):
                    failures.append(f"cursor of {issued} with {other}: {why}")
    assert not failures, "\n".join(failures)


def _account_gid(tenants: Tenants) -> str:
    return base64.b64encode(f"Account:{tenants.accounts[CAROL_GMAIL]}".encode()).decode()


# -- a conversation's messages -------------------------------------------------------------------


async def messages_page(
    tenants: Tenants, user: str, conversation: str, after: str | None = None
) -> dict[str, Any]:
    return await tenants.query(MESSAGES, {"id": conversation, "after": after}, user=user)


def message_ids(result: dict[str, Any]) -> list[str]:
    return [e["node"]["id"] for e in result["data"]["conversation"]["messages"]["edges"]]


async def test_a_messages_cursor_works_only_where_it_was_issued(tenants: Tenants) -> None:
    carol_threads = [t for t in threads(RIVAL, CAROL_GMAIL) if len(t) >= 2]
    carol_thread = tenants.conversation(CAROL_GMAIL, carol_threads[0][0]["thread_id"])
    carol_other = tenants.conversation(CAROL_GMAIL, carol_threads[1][0]["thread_id"])
    dave_chat = tenants.conversation(DAVE_WHATSAPP, a_chat(RIVAL, DAVE_WHATSAPP, 3)["id"])
    alice_thread_id = a_thread(DEMO, ALICE_GMAIL, 2)[0]["thread_id"]
    alice_thread = tenants.conversation(ALICE_GMAIL, alice_thread_id)
    bob_chat = tenants.conversation(BOB_WHATSAPP, a_chat(DEMO, BOB_WHATSAPP, 3)["id"])
    cursors = {}
    for user, conversation in (
        ("carol", carol_thread),
        ("dave", dave_chat),
        ("alice", alice_thread),
        ("bob", bob_chat),
    ):
        first = await messages_page(tenants, user, conversation)
        assert "errors" not in first, first
        cursor = first["data"]["conversation"]["messages"]["pageInfo"]["endCursor"]
        assert cursor, (user, first)
        # Control: the cursor continues its own conversation.
        second = await messages_page(tenants, user, conversation, cursor)
        assert "errors" not in second, second
        assert message_ids(second) and message_ids(second) != message_ids(first), user
        cursors[conversation] = cursor
    alice_mail = unipile_cursor({"account_id": ALICE_GMAIL, "thread_id": alice_thread_id}, 20)
    attacks = [
        # Hand-made, in the old format: UniPile's cursor over alice's thread.
        ("carol", carol_thread, old_messages_cursor(alice_mail), DEMO_MARKERS, DEMO_ACCOUNTS),
        # ... over every email of the organisation.
        (
            "carol",
            carol_thread,
            old_messages_cursor(unipile_cursor({}, 20)),
            DEMO_MARKERS,
            DEMO_ACCOUNTS,
        ),
        # Another tenant's cursor, on one's own conversation: the other tenant's mail would follow.
        ("alice", alice_thread, cursors[carol_thread], RIVAL_MARKERS, RIVAL_ACCOUNTS),
        ("bob", bob_chat, cursors[dave_chat], RIVAL_MARKERS, RIVAL_ACCOUNTS),
        ("carol", carol_thread, cursors[alice_thread], DEMO_MARKERS, DEMO_ACCOUNTS),
        # One's own cursor on another of one's conversations; a colleague's on one's own.
        ("carol", carol_other, cursors[carol_thread], DEMO_MARKERS, DEMO_ACCOUNTS),
        ("dave", dave_chat, cursors[carol_thread], DEMO_MARKERS, DEMO_ACCOUNTS),
    ]
    attacks += [
        ("carol", carol_thread, tampered, DEMO_MARKERS, DEMO_ACCOUNTS)
        for tampered in flipped(cursors[carol_thread])
    ]
    attacks += [
        ("dave", dave_chat, tampered, DEMO_MARKERS, DEMO_ACCOUNTS)
        for tampered in flipped(cursors[dave_chat])
    ]
    failures = []
    await tenants.reset_stats()
    for attacker, conversation, cursor, secret, foreign in attacks:
        label = f"{attacker} on {short(conversation)} after {short(cursor)}"
        if why := refused(await messages_page(tenants, attacker, conversation, cursor), secret):
            failures.append(f"{label}: {why}")
        if named := await foreign_accounts_named(tenants, foreign):
            failures.append(f"{label}: UniPile asked about {named}")
        await tenants.reset_stats()
    assert not failures, "\n".join(failures)


async def test_nothing_of_alice_reaches_bob_through_a_cursor(tenants: Tenants) -> None:
    """bob shares alice's workspace and LinkedIn: a cursor still opens none of her mail."""
    alice_mail = unipile_cursor({"account_id": ALICE_GMAIL, "meta_only": "true"})
    bob_chat = tenants.conversation(BOB_WHATSAPP, a_chat(DEMO, BOB_WHATSAPP, 3)["id"])
    failures = []
    await tenants.reset_stats()
    for label, result in (
        ("inbox", await inbox_page(tenants, "bob", old_inbox_cursor({ALICE_GMAIL: alice_mail}))),
        (
            "inbox via the shared LinkedIn",
            await inbox_page(tenants, "bob", old_inbox_cursor({SHARED_LINKEDIN: alice_mail})),
        ),
        (
            "messages",
            await messages_page(tenants, "bob", bob_chat, old_messages_cursor(alice_mail)),
        ),
    ):
        if why := refused(result, ALICE_PRIVATE_MARKERS):
            failures.append(f"{label}: {why}")
    if named := await foreign_accounts_named(tenants, ALICE_PRIVATE):
        failures.append(f"UniPile asked about {named}")
    assert not failures, "\n".join(failures)

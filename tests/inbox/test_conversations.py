from __future__ import annotations

from typing import Any

import pytest

from core.vocabulary import Channel, StoragePolicy
from db.models import StoragePolicySetting, Workspace
from inbox.records import thread_id_of
from tests.inbox.conftest import Inbox
from unipile import Email
from unipile.sandbox import build_demo

PAGE = """
query Page($first: Int, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { cursor node {
      id externalId channel subject isGroup lastMessageAt lastMessagePreview unreadCount
        hasAttachments canLink
      account { id externalId }
      participants { identifier identifierType displayName isSelf role phoneNumber emailAddress
        crmMatch { contact { id name } company { id name } method confidence ambiguous candidates
          { id kind name method confidence } } }
      storage { stored shouldStore reason storedAt }
      links { id target { id name } source rule createdAt }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ALICE_ACCOUNTS = (
    "acc_gmail_demo_000001",
    "acc_outlook_demo_00001",
    "acc_linkedin_demo_0001",
    "acc_whatsapp_demo_0002",
)


def demo_conversation_ids(accounts: tuple[str, ...]) -> set[str]:
    demo = build_demo(7)
    chats = {chat["id"] for chat in demo.chats if chat["account_id"] in accounts}
    threads = {
        thread_id_of(Email.from_json(email))
        for email in demo.emails
        if email["account_id"] in accounts
    }
    return chats | threads


async def hold_automatic_storage() -> None:
    """Paging is stable while the data is: keep the job queue from storing email meanwhile."""
    workspace = await Workspace.get(slug="demo")
    await StoragePolicySetting.create(
        workspace=workspace, channel=Channel.EMAIL, policy=StoragePolicy.MANUAL
    )


async def page_through(
    inbox: Inbox, first: int, filter: dict[str, Any] | None = None, user: str = "alice"
) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        result = await inbox.query(
            PAGE, {"first": first, "after": after, "filter": filter}, user=user
        )
        assert "errors" not in result, result["errors"]
        connection = result["data"]["conversations"]
        nodes.extend(edge["node"] for edge in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]
        assert len(nodes) < 2000, "paging does not end"


async def test_a_page_costs_one_list_request_per_account_three_queries_cold_and_one_warm(
    inbox: Inbox,
) -> None:
    await hold_automatic_storage()
    await inbox.upstream_stats()
    result = await inbox.query(PAGE, {"first": 50})
    assert "errors" not in result
    assert len(result["data"]["conversations"]["edges"]) == 50
    stats = (await inbox.upstream_stats())["requests"]
    assert stats.get("GET /api/v1/chats", 0) + stats.get("GET /api/v1/emails", 0) <= len(
        ALICE_ACCOUNTS
    )
    assert result["extensions"]["cost"]["dbQueries"] <= 3
    assert result["extensions"]["cost"]["upstreamRequests"] == sum(stats.values())
    warm = await inbox.query(PAGE, {"first": 50})
    assert [edge["node"] for edge in warm["data"]["conversations"]["edges"]] == [
        edge["node"] for edge in result["data"]["conversations"]["edges"]
    ]
    assert warm["extensions"]["cost"]["dbQueries"] <= 1


async def test_page_size_does_not_change_the_query_count(inbox: Inbox) -> None:
    counts = set()
    for first in (10, 50, 100):
        result = await inbox.query(PAGE, {"first": first})
        assert len(result["data"]["conversations"]["edges"]) == first
        counts.add(result["extensions"]["cost"]["dbQueries"])
    assert len(counts) == 1


async def test_group_chats_cost_one_attendee_request_each_once(inbox: Inbox) -> None:
    await hold_automatic_storage()
    await inbox.upstream_stats()
    first = await inbox.query(PAGE, {"first": 50}, user="bob")
    groups = [
        edge["node"] for edge in first["data"]["conversations"]["edges"] if edge["node"]["isGroup"]
    ]
    assert groups, "bob's WhatsApp has group chats"
    assert all(len(group["participants"]) > 2 for group in groups)
    stats = (await inbox.upstream_stats())["requests"]
    assert stats.get("GET /api/v1/chats/{chat_id}/attendees", 0) == len(groups)
    assert stats.get("GET /api/v1/chats", 0) <= 2
    await inbox.query(PAGE, {"first": 50}, user="bob")
    again = (await inbox.upstream_stats())["requests"]
    assert again.get("GET /api/v1/chats/{chat_id}/attendees", 0) == 0


async def test_the_inbox_is_newest_first_and_complete(inbox: Inbox) -> None:
    nodes = await page_through(inbox, 100)
    ids = [node["externalId"] for node in nodes]
    assert len(ids) == len(set(ids))
    assert set(ids) == demo_conversation_ids(ALICE_ACCOUNTS)
    times = [node["lastMessageAt"] for node in nodes]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(
    "filter",
    [
        pytest.param(None, id="none"),
        pytest.param({"unread": True}, id="unread"),
        pytest.param({"matched": True}, id="matched"),
        pytest.param({"stored": False}, id="not stored"),
        pytest.param({"channels": ["LINKEDIN"]}, id="channel"),
    ],
)
async def test_small_and_large_pages_give_the_same_list(
    inbox: Inbox, filter: dict[str, Any] | None
) -> None:
    await hold_automatic_storage()
    small = [node["id"] for node in await page_through(inbox, 7, filter)]
    large = [node["id"] for node in await page_through(inbox, 100, filter)]
    assert small == large
    assert len(small) == len(set(small))


async def test_filters_select_what_they_say(inbox: Inbox) -> None:
    unread = await page_through(inbox, 100, {"unread": True})
    assert unread and all(node["unreadCount"] > 0 for node in unread)
    matched = await page_through(inbox, 100, {"matched": True})
    assert matched and all(
        any(p["crmMatch"] and p["crmMatch"]["candidates"] for p in node["participants"])
        for node in matched
    )
    linkedin = await page_through(inbox, 100, {"channels": ["LINKEDIN"]})
    assert linkedin and {node["channel"] for node in linkedin} == {"LINKEDIN"}


async def test_matches_show_every_kind_of_demo_case(inbox: Inbox) -> None:
    nodes = await page_through(inbox, 100)
    matches = [p["crmMatch"] for node in nodes for p in node["participants"] if p["crmMatch"]]
    methods = {m["method"] for m in matches if m["method"]}
    assert {"EMAIL", "DOMAIN", "PROVIDER_ID"} <= methods
    assert any(m["ambiguous"] and m["contact"] is None for m in matches)
    reasons = {node["storage"]["reason"] for node in nodes}
    assert {"CONTACT_MATCH", "NONE"} <= reasons
    assert all(
        node["storage"]["shouldStore"] == (node["storage"]["reason"] != "NONE") for node in nodes
    )


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        pytest.param({"first": 0}, "first", id="first 0"),
        pytest.param({"first": 101}, "first", id="first 101"),
        pytest.param({"first": -1}, "first", id="first negative"),
        pytest.param({"first": 5, "after": "garbage"}, "after", id="garbage cursor"),
        pytest.param({"first": 5, "after": "eyJ2IjoxfQ=="}, "after", id="forged cursor"),
    ],
)
async def test_bad_pagination_is_bad_user_input(
    inbox: Inbox, variables: dict[str, Any], argument: str
) -> None:
    result = await inbox.query(PAGE, variables)
    assert result["data"] is None
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_cursor_only_continues_its_own_filter(inbox: Inbox) -> None:
    first = await inbox.query(PAGE, {"first": 5})
    cursor = first["data"]["conversations"]["pageInfo"]["endCursor"]
    result = await inbox.query(PAGE, {"first": 5, "after": cursor, "filter": {"unread": True}})
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_one_failing_account_does_not_fail_the_inbox(inbox: Inbox) -> None:
    response = await inbox.sandbox_post(
        "/_sandbox/faults", {"disconnected_accounts": ["acc_gmail_demo_000001"]}
    )
    assert response.status_code == 200
    result = await inbox.query(PAGE, {"first": 30})
    accounts = {
        edge["node"]["account"]["externalId"] for edge in result["data"]["conversations"]["edges"]
    }
    assert accounts == {
        "acc_outlook_demo_00001",
        "acc_linkedin_demo_0001",
        "acc_whatsapp_demo_0002",
    }
    [error] = result["errors"]
    assert error["extensions"]["code"] == "ACCOUNT_DISCONNECTED"
    assert error["extensions"]["accountExternalId"] == "acc_gmail_demo_000001"


async def test_rate_limited_and_unavailable_accounts_are_named(inbox: Inbox) -> None:
    await inbox.sandbox_post("/_sandbox/faults", {"error_rate": 1.0})
    result = await inbox.query(PAGE, {"first": 10})
    assert result["data"]["conversations"]["edges"] == []
    assert {error["extensions"]["code"] for error in result["errors"]} == {"UPSTREAM_UNAVAILABLE"}
    assert len(result["errors"]) == len(ALICE_ACCOUNTS)
    await inbox.sandbox_post(
        "/_sandbox/faults",
        {"error_rate": 0.0, "rate_limit_rate": 1.0, "rate_limit_retry_after_s": 30},
    )
    limited = await inbox.query(PAGE, {"first": 10})
    assert {error["extensions"]["code"] for error in limited["errors"]} == {"UPSTREAM_RATE_LIMITED"}


async def test_the_inbox_requires_a_token(inbox: Inbox) -> None:
    anonymous = Inbox(url=inbox.url, sandbox=inbox.sandbox, tokens={"alice": "nope"})
    result = await anonymous.query(PAGE, {"first": 5})
    assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_every_filter_pages_alike(inbox: Inbox) -> None:
    from tests.storing.test_conversation_mutations import LINK, a_contact_id, mutate

    await hold_automatic_storage()
    contact = await a_contact_id()
    for node in (await page_through(inbox, 100))[:3]:
        await mutate(inbox, LINK, {"conversationId": node["id"], "contactId": contact})
    listed = await inbox.query("{ accounts { id externalId } }")
    assert "errors" not in listed, listed
    accounts = listed["data"]["accounts"]
    gmail = next(a["id"] for a in accounts if a["externalId"] == "acc_gmail_demo_000001")
    filters: list[dict[str, Any]] = [
        {"stored": True},
        {"linkedTo": contact},
        {"accountIds": [gmail]},
        {"folder": "INBOX"},
        {"unread": False, "channels": ["EMAIL"]},
        {"matched": False},
    ]
    for filter in filters:
        small = [node["id"] for node in await page_through(inbox, 7, filter)]
        large = [node["id"] for node in await page_through(inbox, 100, filter)]
        assert small == large, filter
        assert small, filter
    linked = await page_through(inbox, 100, {"linkedTo": contact})
    assert len(linked) == 3
    in_gmail = await page_through(inbox, 100, {"accountIds": [gmail]})
    assert {node["account"]["id"] for node in in_gmail} == {gmail}

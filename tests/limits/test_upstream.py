"""The UniPile calls of one operation: at most a budget of them, all within one deadline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from schema.extensions import Limits
from tests.limits.conftest import GMAIL, LINKEDIN, Served

LIMITS = Limits()
INBOX = """
query Inbox($first: Int) {
  conversations(first: $first) {
    edges { node { id externalId isGroup account { externalId } participants { identifier } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
# Short enough for a test, long enough for an unhurried inbox page on a slow machine.
DEADLINE = 2.0
# The time an answer may take past the deadline: the rest of the page's work after it.
MARGIN = 1.5


def aliased_inboxes(count: int, account_id: str | None = None) -> str:
    """`count` inboxes that each ask UniPile their own lists: identical reads share one call, so
    each alias asks a different number of chats (more than 50), with or without `unread`."""
    within = "" if account_id is None else f'accountIds: ["{account_id}"], '
    pages = []
    for n in range(count):
        unread = "true" if n % 2 else "null"
        first = 51 + n // 2
        pages.append(
            f"i{n}: conversations(first: {first}, filter: {{{within}unread: {unread}}}) "
            "{ edges { node { id } } }"
        )
    return "{ " + " ".join(pages) + " }"


async def accounts(served: Served, user: str = "alice") -> dict[str, str]:
    """The user's accounts: global id by UniPile id."""
    result = await served.query("{ accounts { id externalId } }", user=user)
    return {account["externalId"]: account["id"] for account in result["data"]["accounts"]}


@pytest.mark.parametrize("environ", [{"UPSTREAM_BUDGET": "60"}])
async def test_100_inboxes_in_one_request_fail_fast_within_the_budget(served: Served) -> None:
    await served.upstream_stats()
    started = time.monotonic()
    result = await served.query(aliased_inboxes(100))
    elapsed = time.monotonic() - started
    [error] = result["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_BUDGET_EXCEEDED", error
    assert error["extensions"]["maximum"] == 60
    assert "path" not in error
    assert result["data"] is None
    # Attempts are counted when they start, also those still waiting for their account's slot
    # when the operation failed (and were never sent).
    sent = (await served.upstream_stats())["total"]
    assert 0 < sent <= result["extensions"]["cost"]["upstreamRequests"] <= 60
    assert elapsed < 10, elapsed


@pytest.mark.parametrize("environ", [{"UPSTREAM_BUDGET": "7"}])
async def test_the_budget_counts_every_request_of_the_operation(served: Served) -> None:
    linkedin = (await accounts(served))[LINKEDIN]
    await served.upstream_stats()
    # One chat list per inbox of the LinkedIn account: seven requests, the budget.
    seven = await served.query(aliased_inboxes(7, linkedin))
    assert "errors" not in seven, seven["errors"]
    assert (await served.upstream_stats())["total"] == 7
    eight = await served.query(aliased_inboxes(8, linkedin))
    [error] = eight["errors"]
    assert error["extensions"] == {"code": "UPSTREAM_BUDGET_EXCEEDED", "maximum": 7}
    assert eight["extensions"]["cost"]["upstreamRequests"] == 7
    # The refusal fails the operation at once: calls still on their way may never be sent.
    assert (await served.upstream_stats())["total"] <= 7


async def test_an_ordinary_inbox_page_is_well_within_the_budget(served: Served) -> None:
    for user in ("alice", "bob"):
        result = await served.query(INBOX, {"first": 100}, user=user)
        assert "errors" not in result, result["errors"]
        assert result["extensions"]["cost"]["upstreamRequests"] <= LIMITS.upstream_budget // 2


def lanes(result: dict[str, Any]) -> set[str]:
    return {
        edge["node"]["account"]["externalId"] for edge in result["data"]["conversations"]["edges"]
    }


def only(account_ids: list[str]) -> dict[str, Any]:
    return {"first": 50, "filter": {"accountIds": account_ids}}


INBOX_FILTERED = INBOX.replace(
    "($first: Int)", "($first: Int, $filter: ConversationFilter)"
).replace("conversations(first: $first)", "conversations(first: $first, filter: $filter)")


@pytest.mark.parametrize("environ", [{"UPSTREAM_DEADLINE_SECONDS": str(DEADLINE)}])
async def test_a_hung_account_fails_at_the_deadline_beside_the_others(served: Served) -> None:
    mine = await accounts(served)
    others = [account_id for external, account_id in mine.items() if external != GMAIL]
    # The page without gmail, read once while UniPile is well, so that its group chats' members
    # are known (see the next test for a group chat seen first after the deadline).
    expected = await served.query(INBOX_FILTERED, only(others))
    assert "errors" not in expected, expected["errors"]
    await served.faults(hang_accounts=[GMAIL], hang_s=60)
    started = time.monotonic()
    result = await served.query(INBOX, {"first": 50})
    elapsed = time.monotonic() - started
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + MARGIN, elapsed
    [error] = result["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["accountExternalId"] == GMAIL
    assert error["extensions"]["accountId"] == mine[GMAIL]
    assert lanes(result) == set(mine) - {GMAIL}
    edges = result["data"]["conversations"]["edges"]
    assert [edge["node"]["id"] for edge in edges] == [
        edge["node"]["id"] for edge in expected["data"]["conversations"]["edges"]
    ]


@pytest.mark.parametrize("environ", [{"UPSTREAM_DEADLINE_SECONDS": str(DEADLINE)}])
async def test_group_chats_first_seen_after_the_deadline_do_not_fail_the_page(
    served: Served,
) -> None:
    await served.faults(hang_accounts=[GMAIL], hang_s=60)
    result = await served.query(INBOX, {"first": 50})
    codes = {error["extensions"]["code"] for error in result["errors"]}
    assert "INTERNAL_SERVER_ERROR" not in codes
    assert lanes(result) == set(await accounts(served)) - {GMAIL}


@pytest.mark.parametrize("environ", [{"UPSTREAM_DEADLINE_SECONDS": str(DEADLINE)}])
async def test_hung_calls_give_their_slots_back_at_the_deadline(served: Served) -> None:
    """The client lets 8 calls per account run at once: 10 inbox reads hung on gmail would
    hold every gmail slot for the sandbox's minute if the deadline did not free them."""
    gmail = (await accounts(served))[GMAIL]
    await served.faults(hang_accounts=[GMAIL], hang_s=60)
    started = time.monotonic()
    hung = await asyncio.gather(*(served.query(INBOX_FILTERED, only([gmail])) for _ in range(10)))
    # Not the sandbox's minute; ten requests at once in one process take longer than one.
    assert time.monotonic() - started < DEADLINE + 2 * MARGIN
    for result in hung:
        [error] = result["errors"]
        assert error["extensions"]["accountExternalId"] == GMAIL
        assert result["data"]["conversations"]["edges"] == []
    await served.faults(hang_accounts=[])
    started = time.monotonic()
    result = await served.query(INBOX_FILTERED, only([gmail]))
    assert time.monotonic() - started < DEADLINE
    assert "errors" not in result, result["errors"]
    assert lanes(result) == {GMAIL}


@pytest.mark.parametrize("environ", [{"UPSTREAM_DEADLINE_SECONDS": str(DEADLINE)}])
async def test_retries_stop_at_the_deadline(served: Served) -> None:
    """With UniPile answering 503 to everything, the client's retries (five attempts, backoff up
    to 5 s each) end at the deadline, and every account reports itself unavailable."""
    mine = await accounts(served)
    await served.faults(error_rate=1.0)
    started = time.monotonic()
    result = await served.query(INBOX, {"first": 20})
    assert time.monotonic() - started < DEADLINE + MARGIN
    failed = {error["extensions"]["accountExternalId"] for error in result["errors"]}
    assert failed == set(mine)
    assert {error["extensions"]["code"] for error in result["errors"]} == {"UPSTREAM_UNAVAILABLE"}
    assert result["data"]["conversations"]["edges"] == []

"""Aliases, tokens and depth: one `QUERY_TOO_COMPLEX` error, before any resolver runs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import parse, validate
from strawberry.extensions.query_depth_limiter import create_validator

from schema.extensions import Limits, document_size
from schema.schema import schema
from tests.graphql_ws import LEGACY_WS, TRANSPORT_WS, connect, receive_json, start
from tests.limits.conftest import Served

LIMITS = Limits()
VIEWER = "viewer { user { email } }"


def aliases_of(field: str, count: int) -> str:
    return "{ " + " ".join(f"a{n}: {field}" for n in range(count)) + " }"


def the_one_error(result: dict[str, Any], limit: str) -> dict[str, Any]:
    assert result.get("data") is None, result
    [error] = result["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    assert error["extensions"]["limit"] == limit
    return error  # type: ignore[no-any-return]


def nothing_was_done(result: dict[str, Any]) -> None:
    cost = result.get("extensions", {}).get("cost")
    assert cost in (None, {"dbQueries": 0, "upstreamRequests": 0}), cost


async def test_two_thousand_aliases_are_one_error_and_cost_nothing(
    served_on_each_database: Served,
) -> None:
    served = served_on_each_database
    await served.upstream_stats()
    query = aliases_of(VIEWER, 2000)
    assert len(query) < 100_000  # well under the body limit: the alias limit refuses it
    result = await served.query(query)
    error = the_one_error(result, "ALIASES")
    assert error["extensions"]["maximum"] == LIMITS.max_aliases
    nothing_was_done(result)
    assert (await served.upstream_stats())["total"] == 0


async def test_aliases_up_to_the_limit_run(served: Served) -> None:
    result = await served.query(aliases_of(VIEWER, LIMITS.max_aliases))
    assert "errors" not in result, result["errors"][:1]
    assert len(result["data"]) == LIMITS.max_aliases
    over = await served.query(aliases_of(VIEWER, LIMITS.max_aliases + 1))
    the_one_error(over, "ALIASES")


async def test_aliases_are_counted_through_fragments_each_time_spread(served: Served) -> None:
    # 10 aliases in a fragment spread 30 times: 300 aliases in 700 bytes.
    fragment = (
        "fragment Ten on Query { "
        + " ".join(f"v{n}: viewer {{ user {{ email }} }}" for n in range(10))
        + " }"
    )
    query = "{ " + " ".join(f"x{n}: viewer {{ user {{ email }} }} ...Ten" for n in range(30)) + " }"
    result = await served.query(query + "\n" + fragment)
    the_one_error(result, "ALIASES")
    nothing_was_done(result)


async def test_too_many_tokens_are_refused_while_parsing(served: Served) -> None:
    # No aliases: only the token limit applies. `__typename` twice per field costs nothing else.
    fields = " ".join("__typename" for _ in range(LIMITS.max_tokens))
    result = await served.query("{ " + fields + " }")
    error = the_one_error(result, "TOKENS")
    assert error["extensions"]["maximum"] == LIMITS.max_tokens
    nothing_was_done(result)


def commented(comments: int) -> str:
    """`{ __typename }` (3 tokens) after `comments` comment lines."""
    return "\n".join("# padding" for _ in range(comments)) + "\n{ __typename }"


async def test_comments_count_as_tokens_up_to_the_limit(served: Served) -> None:
    at_limit = await served.query(commented(LIMITS.max_tokens - 3))
    assert at_limit["data"] == {"__typename": "Query"}, at_limit.get("errors", [])[:1]
    over = await served.query(commented(LIMITS.max_tokens - 2))
    the_one_error(over, "TOKENS")
    nothing_was_done(over)


DEEP_FRAGMENTS = """
query Deep {
  conversations(first: 1) { ...Edges }
}
fragment Edges on ConversationConnection { edges { node { ...Conversation } } }
fragment Conversation on Conversation { account { ...Account } participants { ...Participant } }
fragment Account on Account { id }
fragment Participant on Participant { crmMatch { ...Match } }
fragment Match on CrmMatch { contact { id } company { id } candidates { id } }
"""


def strawberry_depth(query: str) -> int:
    depths: dict[str, int] = {}
    rule = create_validator(100, None, depths.update)
    validate(schema._schema, parse(query), [rule])
    return max(depths.values())


@pytest.mark.parametrize(
    "query",
    [
        DEEP_FRAGMENTS,
        "{ viewer { user { email } workspace { name } } accounts { id } }",
        "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }",
        "{ viewer { ... on Viewer { user { ... on User { email } } } } }",
        "query A { viewer { user { email } } } query B { accounts { id } }",
    ],
)
def test_depth_is_counted_as_strawberrys_limiter_counts_it(query: str) -> None:
    """Strawberry's `QueryDepthLimiter` follows fragment spreads (`determine_depth` descends
    into each spread's fragment); the limit here counts the same depths, each fragment once."""
    assert document_size(parse(query), cap=1000)[1] == strawberry_depth(query)


def test_depth_of_the_fragment_query_is_known() -> None:
    # conversations 1, edges 2, node 3, participants 4, crmMatch 5, contact 6.
    assert document_size(parse(DEEP_FRAGMENTS), cap=1000)[1] == 6


@pytest.mark.parametrize("environ", [{"MAX_QUERY_DEPTH": "5"}])
async def test_depth_is_counted_through_fragments(served: Served) -> None:
    await served.upstream_stats()
    result = await served.query(DEEP_FRAGMENTS)
    error = the_one_error(result, "DEPTH")
    assert error["extensions"]["maximum"] == 5
    nothing_was_done(result)
    assert (await served.upstream_stats())["total"] == 0


@pytest.mark.parametrize("environ", [{"MAX_QUERY_DEPTH": "6"}])
async def test_depth_at_the_limit_runs(served: Served) -> None:
    result = await served.query(DEEP_FRAGMENTS)
    assert "errors" not in result, result["errors"][:1]


async def test_the_default_depth_limit_is_checked_before_validation(served: Served) -> None:
    # The schema has no cycle deep enough for 13 valid levels; `viewer` has no `viewer` field,
    # so validation would refuse this too, but the depth is refused first, with its own code.
    chain = "__typename"
    for _ in range(LIMITS.max_depth + 1):
        chain = f"viewer {{ {chain} }}"
    result = await served.query("{ " + chain + " }")
    error = the_one_error(result, "DEPTH")
    assert error["extensions"]["maximum"] == LIMITS.max_depth


async def test_fragments_spreading_each_other_twice_are_counted_at_once(served: Served) -> None:
    """Strawberry's limiters walk a fragment at every spread: 2**30 walks for this document."""
    levels = 30
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ a: __typename b: __typename }}")
    query = "{ ...F0 }\n" + "\n".join(fragments)
    started = time.monotonic()
    result = await served.query(query)
    assert time.monotonic() - started < 2
    the_one_error(result, "ALIASES")


async def test_a_long_chain_of_fragments_is_no_internal_error(served: Served) -> None:
    links = 2000
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(links)]
    fragments.append(f"fragment F{links} on Query {{ __typename }}")
    result = await served.query("{ ...F0 }\n" + "\n".join(fragments))
    codes = {error["extensions"]["code"] for error in result["errors"]}
    assert "INTERNAL_SERVER_ERROR" not in codes, result["errors"][:1]


def test_a_cycle_of_fragments_is_left_to_validation() -> None:
    document = parse(
        "{ ...A } fragment A on Query { a: __typename ...B } fragment B on Query { ...A }"
    )
    assert document_size(document, cap=10) == (1, 0)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_over_a_websocket_a_refused_document_is_an_error_message(
    served: Served, protocol: str
) -> None:
    async with connect(served.url, served.tokens["alice"], protocol) as socket:
        await start(socket, protocol, "big", aliases_of(VIEWER, 2000))
        message = await receive_json(socket)
        assert (message["type"], message["id"]) == ("error", "big"), message
        payload = message["payload"]
        [error] = payload if isinstance(payload, list) else [payload]
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert error["extensions"]["limit"] == "ALIASES"
        # The socket stays open for the next operation.
        await start(socket, protocol, "small", "{ viewer { user { email } } }")
        while (message := await receive_json(socket))["type"] not in ("next", "data"):
            pass
        assert message["payload"]["data"]["viewer"]["user"]["email"].startswith("alice@")

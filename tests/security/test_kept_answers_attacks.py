"""Attacks on kept answers (`server.kept_responses`) over HTTP, on SQLite and PostgreSQL.

A query asked again by the same viewer with the same document, operation name and variables is
answered from the answer kept before while what it was made of is unchanged. These tests try, as
a client would, to be given an answer that executing the request would not give: another
viewer's, one older than a change the request started after, one kept from a request that must
never be kept, or a different one for an odd request; and to grow the process past its bound.
Where bytes can be compared, a reference server that keeps nothing (`KEPT_RESPONSE_BYTES=0`)
says what executing gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from access.tokens import issue_token
from core.identity import Identity
from core.vocabulary import Role
from db.models import User
from server.demo import DEMO_USERS
from server.kept_responses import DEFAULT_MAX_BYTES, KeptResponses
from tests.access.conftest import AUDIENCE, ISSUER, SECRET, hs256_token
from tests.accounts.conftest import second_workspace_token
from tests.graphql_ws import subscribe
from tests.inbox.conftest import (  # noqa: F401 (pytest passes the fixtures imported)
    SIGNING_KEY,
    WEBHOOK_SECRET,
    demo_tokens,
    sandbox_url,
)
from tests.inbox.test_conversations import ALICE_ACCOUNTS, PAGE, hold_automatic_storage
from tests.inbox.test_live_cache import processed
from tests.server.test_kept_responses import (  # noqa: F401 (pytest passes the fixtures imported)
    FIRST_50,
    Serve,
    Served,
    cached,
    cost,
    kept_page,
    processed_count,
    serve,
    without_cost,
)

GMAIL, OUTLOOK, LINKEDIN, WHATSAPP = ALICE_ACCOUNTS
ACCOUNTS = "{ accounts { id externalId status lastError shared isMine } }"
NO_COST = {"SWITCHBOARD_REPORT_COST": "0"}


# -- requests as bytes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request to /graphql, exactly as sent."""

    name: str
    body: bytes | None = None
    params: dict[str, str] | None = None
    accept: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def post_json(name: str, document: dict[str, Any]) -> Call:
    return Call(name, body=orjson.dumps(document))


async def send(inbox: Served, call: Call, token: str) -> Answer:
    headers = {"Authorization": f"Bearer {token}", "Accept": call.accept, **call.headers}
    async with httpx.AsyncClient(base_url=inbox.url, timeout=30) as client:
        if call.body is None:
            response = await client.get("/graphql", params=call.params, headers=headers)
        else:
            headers.setdefault("Content-Type", "application/json")
            response = await client.post("/graphql", content=call.body, headers=headers)
    return Answer(response.status_code, response.headers.get("content-type", ""), response.content)


async def answers(inbox: Served, calls: list[Call], times: int) -> list[list[Answer]]:
    """Each call's answers, asked `times` in a row, as Alice."""
    token = inbox.tokens["alice"]
    return [[await send(inbox, call, token) for _ in range(times)] for call in calls]


def nodes(result: dict[str, Any]) -> list[dict[str, Any]]:
    assert result.get("data") is not None, result
    return [edge["node"] for edge in result["data"]["conversations"]["edges"]]


def codes(result: dict[str, Any]) -> set[str]:
    return {error["extensions"]["code"] for error in result.get("errors") or ()}


def is_kept(result: dict[str, Any]) -> bool:
    return bool(cost(result).get("keptAnswer"))


async def keep(inbox: Served, query: str, variables: dict[str, Any], user: str = "alice") -> Any:
    """Read until the answer is given again from where it was kept; that answer."""
    for _ in range(4):
        result = await inbox.query(query, variables, user=user)
        assert "errors" not in result, result
        if is_kept(result):
            return result
    raise AssertionError(f"{query!r} was never given again from where it was kept")


@contextmanager
def hits_counted(kept: KeptResponses) -> Iterator[list[int]]:
    """The hits of kept answers made while the block ran, in the one-item list yielded."""
    found = [0]
    before = kept.stats.hits
    try:
        yield found
    finally:
        found[0] = kept.stats.hits - before


# -- the same answer as executing gives -----------------------------------------------------

TWO_OPERATIONS = (
    "query A { version } query B { accounts { externalId } } mutation C { x: __typename }"
)
DIRECTIVES = """query D($yes: Boolean!, $no: Boolean!) {
  accounts { externalId status @include(if: $yes) name @skip(if: $yes) shared @include(if: $no) }
}"""
INTROSPECTION = "{ __schema { queryType { name } mutationType { name } types { name kind } } }"
PAGE_BODY = {"query": PAGE, "variables": FIRST_50}
SUBSCRIPTION = "subscription { accountStatusChanged { id status } }"

ODD_CALLS = [
    post_json("the page", PAGE_BODY),
    Call("the page by GET", params={"query": PAGE, "variables": '{"first": 50}'}),
    Call(
        "the page, graphql-response+json",
        body=orjson.dumps(PAGE_BODY),
        accept="application/graphql-response+json",
    ),
    Call(
        "duplicate variable keys (the last wins)",
        body=b'{"query": %s, "variables": {"first": 3, "first": 7}}' % orjson.dumps(PAGE),
    ),
    Call(
        "variables in another key order",
        body=b'{"variables": {"filter": null, "first": 7}, "query": %s}' % orjson.dumps(PAGE),
    ),
    Call(
        "an integer beyond 64 bits",
        body=b'{"query": %s, "variables": {"first": 123456789012345678901234567890}}'
        % orjson.dumps(PAGE),
    ),
    Call(
        "an unused integer beyond 64 bits",
        body=b'{"query": "{ version }", "variables": {"junk": 123456789012345678901234567890}}',
    ),
    post_json("an integer beyond 32 bits", {"query": PAGE, "variables": {"first": 2**40}}),
    Call(
        "a lone surrogate in a variable",
        body=b'{"query": %s, "variables": {"first": 5, "after": "\\ud800"}}' % orjson.dumps(PAGE),
    ),
    Call(
        "a lone surrogate in an unused variable",
        body=b'{"query": "{ version }", "variables": {"junk": "\\udfff"}}',
    ),
    post_json(
        "unicode in unused variables",
        {"query": "{ version }", "variables": {"j\u00e9": "\U0001f600\u0000\u202e"}},
    ),
    post_json(
        "nested unused variables",
        {"query": "{ version }", "variables": {"junk": [[[[[[[[{"a": [1, 2.5]}]]]]]]]]}},
    ),
    Call(
        "variables nested past the parser",
        body=b'{"query": "{ version }", "variables": {"junk": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}",
    ),
    post_json("an operation name the document lacks", {**PAGE_BODY, "operationName": "Nope"}),
    Call(
        "an operation name that is not a string",
        body=b'{"query": "{ version }", "operationName": 5}',
    ),
    post_json("several operations, none named", {"query": TWO_OPERATIONS}),
    post_json("several operations, A", {"query": TWO_OPERATIONS, "operationName": "A"}),
    post_json("several operations, B", {"query": TWO_OPERATIONS, "operationName": "B"}),
    post_json("several operations, the mutation", {"query": TWO_OPERATIONS, "operationName": "C"}),
    Call(
        "several operations by GET, the mutation",
        params={"query": TWO_OPERATIONS, "operationName": "C"},
    ),
    post_json(
        "@include/@skip true", {"query": DIRECTIVES, "variables": {"yes": True, "no": False}}
    ),
    post_json(
        "@include/@skip false", {"query": DIRECTIVES, "variables": {"yes": False, "no": True}}
    ),
    post_json("@include without its variable", {"query": DIRECTIVES, "variables": {"yes": True}}),
    post_json("introspection", {"query": INTROSPECTION}),
    post_json("__typename", {"query": "{ __typename }"}),
    post_json("a subscription over HTTP", {"query": SUBSCRIPTION}),
    post_json("a syntax error", {"query": "{ accounts { "}),
    post_json("an unknown field", {"query": "{ accounts { nope } }"}),
    post_json("with extensions", {"query": "{ version }", "extensions": {"persistedQuery": {}}}),
    Call("a batch", body=orjson.dumps([PAGE_BODY, PAGE_BODY])),
    Call("null", body=b"null"),
    Call("variables as a string", body=b'{"query": "{ version }", "variables": "{}"}'),
    Call("not UTF-8", body=b'{"query": "{ version }", "variables": {"junk": "\xff"}}'),
    Call("a mutation by GET", params={"query": "mutation { x: __typename }"}),
]


async def test_every_odd_request_is_answered_as_executing_it_answers_byte_for_byte(
    serve: Serve,  # noqa: F811
) -> None:
    """Without `extensions.cost`, so that bodies compare byte for byte: a server that keeps
    nothing gives the reference (one process serves one app at a time)."""
    await hold_automatic_storage()
    with serve(**NO_COST, KEPT_RESPONSE_BYTES="0") as reference:
        await answers(reference, ODD_CALLS[:1], 1)
        expected = [answer for [answer] in await answers(reference, ODD_CALLS, 1)]
    with serve(**NO_COST) as keeper:
        # The page read twice: the live cache filled, then the answer kept.
        await answers(keeper, ODD_CALLS[:1], 2)
        with hits_counted(keeper.kept) as hits:
            given = await answers(keeper, ODD_CALLS, 2)
    mismatches = [
        (call.name, reference, theirs)
        for call, reference, theirs in zip(ODD_CALLS, expected, given, strict=True)
        if reference.status >= 500 or any(answer != reference for answer in theirs)
    ]
    assert mismatches == []
    # Given again: the page (three ways, and its variables reordered), A, B, the directives,
    # introspection, __typename and the unused variables.
    assert hits[0] >= 12


async def test_a_nan_or_infinite_variable_is_not_taken_for_null(serve: Serve) -> None:  # noqa: F811
    """Python's JSON reads `NaN`, `Infinity` and `1e400` as floats, which orjson writes as
    `null`: the key of such variables is the key of `null`'s."""
    await hold_automatic_storage()
    template = b'{"query": %s, "variables": {"first": %s}}'
    null = Call("null", body=template % (orjson.dumps(PAGE), b"null"))
    with serve(**NO_COST) as keeper:
        token = keeper.tokens["alice"]
        for spelled in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
            call = Call(spelled.decode(), body=template % (orjson.dumps(PAGE), spelled))
            executed = await send(keeper, call, token)
            assert codes(orjson.loads(executed.body)) == {"BAD_USER_INPUT"}
            for _ in range(3):
                await send(keeper, null, token)
            assert await send(keeper, call, token) == executed, spelled


@pytest.mark.parametrize("transport", ["POST", "GET"])
async def test_an_integer_of_thousands_of_digits_is_a_bad_request(
    cached: Served,  # noqa: F811
    transport: str,
) -> None:
    variables = '{"junk": %s}' % ("7" * 5000)
    call = (
        Call("POST", body=b'{"query": "{ version }", "variables": %s}' % variables.encode())
        if transport == "POST"
        else Call("GET", params={"query": "{ version }", "variables": variables})
    )
    answer = await send(cached, call, cached.tokens["alice"])
    assert answer.status == 400, answer
    assert codes(orjson.loads(answer.body)) == {"BAD_REQUEST"}


async def test_a_subscription_over_plain_http_is_refused_as_the_clients_error(
    cached: Served,  # noqa: F811
) -> None:
    body = orjson.dumps({"query": SUBSCRIPTION})
    answer = await send(cached, Call("POST", body=body), cached.tokens["alice"])
    assert answer.status == 400, answer
    result = orjson.loads(answer.body)
    assert result.get("data") is None
    assert codes(result) == {"BAD_REQUEST"}, result


# -- another viewer's answer ----------------------------------------------------------------


async def test_tokens_naming_other_viewers_never_get_alices_kept_answer(cached: Served) -> None:  # noqa: F811
    alice = await kept_page(cached)
    eve_token = await second_workspace_token()
    eve = await User.get(email="eve@other.test")
    alice_user = await User.get(email=DEMO_USERS["alice"][0])
    forged = {
        "alice's id in eve's workspace": Identity(alice_user.id, eve.workspace_id),
        "eve's id in alice's workspace": Identity(eve.id, alice_user.workspace_id),
        "an id that does not exist": Identity(10_000_000, alice_user.workspace_id),
    }
    for name, identity in forged.items():
        cached.tokens[name] = issue_token(identity, SIGNING_KEY, timedelta(hours=1))
        result = await cached.query(PAGE, FIRST_50, user=name)
        assert result["data"] is None, name
        assert codes(result) == {"UNAUTHENTICATED"}, name
    cached.tokens["expired"] = issue_token(
        Identity(alice_user.id, alice_user.workspace_id), SIGNING_KEY, timedelta(seconds=-5)
    )
    expired = await cached.query(PAGE, FIRST_50, user="expired")
    assert expired["data"] is None and codes(expired) == {"UNAUTHENTICATED"}
    cached.tokens["eve"] = eve_token
    for user in ("eve", "bob", "eve", "bob"):
        theirs = await cached.query(PAGE, FIRST_50, user=user)
        assert "errors" not in theirs
        assert nodes(theirs) != nodes(alice), user
    # A second token of Alice's is the same viewer: her answer is hers whichever token she uses.
    cached.tokens["alice again"] = issue_token(
        Identity(alice_user.id, alice_user.workspace_id), SIGNING_KEY, timedelta(minutes=5)
    )
    again = await cached.query(PAGE, FIRST_50, user="alice again")
    assert is_kept(again) and without_cost(again) == without_cost(alice)


CRM_TRUSTED = {"CRM_JWT_ISSUER": ISSUER, "CRM_JWT_AUDIENCE": AUDIENCE, "CRM_JWT_SECRET": SECRET}
CRM_VIEWER = "{ accounts { id } conversations(first: 5) { edges { node { id } } } }"


async def test_crm_tokens_are_given_only_their_own_users_kept_answers(serve: Serve) -> None:  # noqa: F811
    """Every CRM token names the user it provisions: another CRM user, the same CRM user id in
    another CRM workspace, and a newer token changing the user's role are each executed."""
    await hold_automatic_storage()
    with serve(**CRM_TRUSTED) as inbox:
        earlier = datetime.now(UTC) - timedelta(seconds=30)
        inbox.tokens["ada"] = hs256_token(iat=earlier)
        inbox.tokens["ada's twin"] = hs256_token(
            iat=earlier, workspace_id="crm-ws-2", email="ada@twin.test"
        )
        inbox.tokens["grace"] = hs256_token(iat=earlier, sub="crm-user-2", email="grace@acme.test")
        await keep(inbox, CRM_VIEWER, {}, user="ada")
        for user in ("ada's twin", "grace"):
            theirs = await inbox.query(CRM_VIEWER, user=user)
            assert "errors" not in theirs and not is_kept(theirs), user
        ada = await User.get(email="ada@acme.test")
        twin = await User.get(email="ada@twin.test")
        assert ada.id != twin.id and ada.workspace_id != twin.workspace_id
        # A newer token than the one her answer was kept for, claiming another role.
        inbox.tokens["ada, admin"] = hs256_token(role="admin", iat=datetime.now(UTC))
        promoted = await inbox.query(CRM_VIEWER, user="ada, admin")
        assert "errors" not in promoted and not is_kept(promoted)
        assert (await User.get(id=ada.id)).role is Role.ADMIN


async def test_a_token_expiring_after_its_answer_was_kept_is_refused(cached: Served) -> None:  # noqa: F811
    alice_user = await User.get(email=DEMO_USERS["alice"][0])
    cached.tokens["brief"] = issue_token(
        Identity(alice_user.id, alice_user.workspace_id), SIGNING_KEY, timedelta(seconds=2)
    )
    await keep(cached, ACCOUNTS, {}, user="brief")
    await asyncio.sleep(2.1)
    late = await cached.query(ACCOUNTS, {}, user="brief")
    assert late.get("data") is None and codes(late) == {"UNAUTHENTICATED"}


async def test_a_role_change_ends_the_answers_kept_for_the_user(cached: Served) -> None:  # noqa: F811
    bob = await User.get(email=DEMO_USERS["bob"][0])
    for role in (Role.ADMIN, Role.MEMBER):
        await keep(cached, ACCOUNTS, {}, user="bob")
        # As an operator's SQL would: no version is bumped, only the user's row changes.
        await User.filter(id=bob.id).update(role=role)
        assert not is_kept(await cached.query(ACCOUNTS, {}, user="bob")), role


# -- an answer older than a change ----------------------------------------------------------


async def webhook(inbox: Served, payload: dict[str, Any]) -> None:
    before = await processed_count()
    async with httpx.AsyncClient(base_url=inbox.url) as client:
        response = await client.post(
            "/webhooks/unipile", json=payload, headers={"Unipile-Auth": WEBHOOK_SECRET}
        )
    assert response.json()["status"] == "recorded", response.text
    await processed(before)


async def sandbox_message(inbox: Served, account: str, key: str, external_id: str) -> None:
    before = await processed_count()
    await inbox.sandbox_post(
        "/_sandbox/messages", {"account_id": account, key: external_id, "text": "after the keep"}
    )
    await processed(before)


def first_of(page: dict[str, Any], account: str) -> dict[str, Any]:
    return next(node for node in nodes(page) if node["account"]["externalId"] == account)


async def test_every_kind_of_webhook_ends_the_answers_made_of_its_account(cached: Served) -> None:  # noqa: F811
    page = await keep(cached, PAGE, FIRST_50)
    chat, thread = first_of(page, LINKEDIN), first_of(page, GMAIL)
    await sandbox_message(cached, LINKEDIN, "chat_id", chat["externalId"])
    after = await cached.query(PAGE, FIRST_50)
    assert not is_kept(after) and nodes(after)[0]["externalId"] == chat["externalId"]

    page = await keep(cached, PAGE, FIRST_50)
    await sandbox_message(cached, GMAIL, "thread_id", thread["externalId"])
    after = await cached.query(PAGE, FIRST_50)
    assert not is_kept(after) and nodes(after)[0]["externalId"] == thread["externalId"]

    whatsapp = first_of(page, WHATSAPP)
    for event in ("message_read", "message_reaction"):
        await keep(cached, PAGE, FIRST_50)
        await webhook(
            cached,
            {
                "event": event,
                "account_id": WHATSAPP,
                "account_type": "WHATSAPP",
                "chat_id": whatsapp["externalId"],
                "message_id": "msg-any",
                "reaction": "+1",
            },
        )
        assert not is_kept(await cached.query(PAGE, FIRST_50)), event

    await keep(cached, PAGE, FIRST_50)
    await keep(cached, ACCOUNTS, {})
    await webhook(cached, {"AccountStatus": {"account_id": OUTLOOK, "message": "STOPPED"}})
    accounts = await cached.query(ACCOUNTS)
    assert not is_kept(accounts)
    status = {a["externalId"]: a["status"] for a in accounts["data"]["accounts"]}
    assert status[OUTLOOK] == "STOPPED"
    assert not is_kept(await cached.query(PAGE, FIRST_50))


MARK_READ = """mutation($id: ID!, $read: Boolean!) {
  markConversationRead(input: {conversationId: $id, read: $read}) { error { code } } }"""
SEND = """mutation($id: ID!) {
  sendMessage(input: {conversationId: $id, text: "sent after the keep"}) { error { code } } }"""
SHARE = """mutation($id: ID!) { shareAccount(input: {accountId: $id}) { error { code } } }"""


async def mutate(inbox: Served, mutation: str, **variables: Any) -> None:
    result = await inbox.query(mutation, variables)
    assert "errors" not in result, result
    [payload] = result["data"].values()
    assert payload["error"] is None, payload


async def test_reads_sends_and_shares_end_the_answers_they_change(cached: Served) -> None:  # noqa: F811
    page = await keep(cached, PAGE, FIRST_50)
    unread = next(node for node in nodes(page) if node["unreadCount"] > 0)
    await mutate(cached, MARK_READ, id=unread["id"], read=True)
    after = await cached.query(PAGE, FIRST_50)
    assert not is_kept(after)
    assert next(n for n in nodes(after) if n["id"] == unread["id"])["unreadCount"] == 0

    page = await keep(cached, PAGE, FIRST_50)
    chat = first_of(page, LINKEDIN)
    await mutate(cached, SEND, id=chat["id"])
    after = await cached.query(PAGE, FIRST_50)
    assert not is_kept(after) and nodes(after)[0]["id"] == chat["id"]

    bobs = await keep(cached, PAGE, FIRST_50, user="bob")
    assert GMAIL not in {n["account"]["externalId"] for n in nodes(bobs)}
    thread = first_of(page, GMAIL)
    # Alice's account and thread are nothing to Bob: answers made of his scope alone, kept.
    by_id = "query($id: ID!) { node(id: $id) { id } }"
    for node_id in (thread["account"]["id"], thread["id"]):
        assert (await keep(cached, by_id, {"id": node_id}, user="bob"))["data"] == {"node": None}
    await mutate(cached, SHARE, id=thread["account"]["id"])
    shared = await cached.query(PAGE, FIRST_50, user="bob")
    assert not is_kept(shared)
    assert GMAIL in {n["account"]["externalId"] for n in nodes(shared)}
    for node_id in (thread["account"]["id"], thread["id"]):
        seen = await cached.query(by_id, {"id": node_id}, user="bob")
        assert not is_kept(seen) and seen["data"] == {"node": {"id": node_id}}


async def test_identical_requests_around_a_webhook_never_get_an_answer_older_than_it(
    cached: Served,  # noqa: F811
) -> None:
    page = await keep(cached, PAGE, FIRST_50)
    chat = first_of(page, LINKEDIN)
    assert nodes(page)[0]["externalId"] != chat["externalId"]
    before = await processed_count()
    during = [asyncio.create_task(cached.query(PAGE, FIRST_50)) for _ in range(12)]
    await cached.sandbox_post(
        "/_sandbox/messages",
        {"account_id": LINKEDIN, "chat_id": chat["externalId"], "text": "while they ask"},
    )
    await processed(before)
    after = await asyncio.gather(*(cached.query(PAGE, FIRST_50) for _ in range(12)))
    for result in [*await asyncio.gather(*during), *after]:
        assert "errors" not in result, result
    assert {nodes(result)[0]["externalId"] for result in after} == {chat["externalId"]}
    later = await keep(cached, PAGE, FIRST_50)
    assert nodes(later)[0]["externalId"] == chat["externalId"]


async def test_a_subscriber_reading_the_inbox_on_each_event_reads_it_fresh(
    cached: Served,  # noqa: F811
) -> None:
    """What a client does: on `messageReceived`, read the inbox again (and the server, told the
    subscriber watches, pre-fetches the account's first page meanwhile)."""
    page = await keep(cached, PAGE, FIRST_50)
    events = """subscription { messageReceived { conversation { externalId } } }
    """
    async with subscribe(cached.url, cached.tokens["alice"], events) as live:
        for account, key in ((LINKEDIN, "chat_id"), (GMAIL, "thread_id")):
            conversation = first_of(page, account)
            await cached.sandbox_post(
                "/_sandbox/messages",
                {"account_id": account, key: conversation["externalId"], "text": "news"},
            )
            event = await live.next(10)
            assert event["data"]["messageReceived"]["conversation"] == {
                "externalId": conversation["externalId"]
            }
            page = await cached.query(PAGE, FIRST_50)
            assert not is_kept(page), account
            assert nodes(page)[0]["externalId"] == conversation["externalId"], account
            page = await keep(cached, PAGE, FIRST_50)


# -- what must never be kept ----------------------------------------------------------------


async def test_an_answer_that_queues_automatic_storage_is_never_given_again(serve: Serve) -> None:  # noqa: F811
    with serve() as inbox:
        results = [await inbox.query(PAGE, FIRST_50) for _ in range(4)]
    pending = [
        [n["id"] for n in nodes(r) if n["storage"]["shouldStore"] and not n["storage"]["stored"]]
        for r in results
    ]
    assert pending[0], "the demo's email policy queues conversations to store"
    for result, queued in zip(results, pending, strict=True):
        assert not (is_kept(result) and queued), "a kept answer names conversations it queued"


async def test_mutations_subscriptions_and_failures_are_never_kept(cached: Served) -> None:  # noqa: F811
    await kept_page(cached)
    alice = cached.tokens["alice"]
    for _ in range(3):
        await cached.query(MARK_READ, {"id": "Q29udmVyc2F0aW9uOm5vcGU=", "read": True})
        refused = await send(cached, Call("POST", orjson.dumps({"query": SUBSCRIPTION})), alice)
        assert refused.status == 400
    assert cached.kept.stats.kept == 1
    await cached.sandbox_post("/_sandbox/faults", {"error_rate": 1.0})
    await webhook(cached, {"AccountStatus": {"account_id": GMAIL, "message": "ERROR"}})
    failing = [await cached.query(PAGE, FIRST_50) for _ in range(2)]
    assert all(r["errors"] and not is_kept(r) for r in failing)
    assert cached.kept.stats.kept == 1


# -- bounds ---------------------------------------------------------------------------------


def retained(kept: KeptResponses) -> int:
    """The bytes the kept answers hold: documents (UTF-8), variables, scope rows, answers, and
    what each holds to write again when it is given again (paging records, shown threads)."""
    return sum(
        len(key.query.encode("utf-8", "surrogatepass"))
        + len(key.variables)
        + len(entry.read_as)
        + len(orjson.dumps(entry.data))
        + sum(rewritten_bytes(rewrite) for rewrite in entry.rewrites)
        for key, entry in kept._kept.items()
    )


def rewritten_bytes(rewrite: object) -> int:
    """The bytes a write to make again carries (a `functools.partial` of the paging store's)."""
    arguments = [arg for arg in getattr(rewrite, "args", ()) if not isinstance(arg, str)]
    return sum(
        len(arg) if isinstance(arg, bytes) else len(orjson.dumps(arg, default=str))
        for arg in arguments
    )


async def test_many_distinct_variables_stay_within_the_bytes_counted(serve: Serve) -> None:  # noqa: F811
    """The least recently used go first: the newest answers stay, the oldest are executed."""
    padding = "x" * 1000
    with serve(KEPT_RESPONSE_BYTES="20000") as inbox:
        for number in range(25):
            await inbox.query("{ version }", {"junk": f"{number}{padding}"})
            assert inbox.kept.bytes <= 20_000
        assert 2 <= len(inbox.kept) < 25
        assert is_kept(await inbox.query("{ version }", {"junk": f"24{padding}"}))
        assert not is_kept(await inbox.query("{ version }", {"junk": f"0{padding}"}))
        huge = await inbox.query("{ version }", {"junk": "y" * 30_000})
        assert not is_kept(await inbox.query("{ version }", {"junk": "y" * 30_000}))
        assert huge["data"] == {"version": huge["data"]["version"]}


async def test_the_bytes_kept_are_the_bytes_held(serve: Serve) -> None:  # noqa: F811
    with serve(KEPT_RESPONSE_BYTES="40000") as inbox:
        for number in range(60):
            await inbox.query("{ version }", {"junk": number})
        emoji = "query { version } # " + "\U0001f600" * 4000
        await inbox.query(emoji, {})
        assert retained(inbox.kept) <= inbox.kept.max_bytes


async def test_the_bytes_a_kept_page_holds_to_write_again_are_counted(
    serve: Serve,  # noqa: F811
) -> None:
    await hold_automatic_storage()
    with serve() as inbox:
        await keep(inbox, PAGE, FIRST_50)
        [entry] = inbox.kept._kept.values()
        assert entry.rewrites, "a page's paging records are written again when it is given again"
        assert retained(inbox.kept) <= inbox.kept.bytes


@pytest.mark.parametrize(
    "kept_bytes",
    [
        "0",
        str(DEFAULT_MAX_BYTES),
    ],
    ids=["executed", "kept"],
)
async def test_an_answer_is_not_given_again_once_its_page_left_the_live_cache(
    serve: Serve,  # noqa: F811
    kept_bytes: str,
) -> None:
    """No webhook is registered: the change is one UniPile made that nothing told of, which a
    read of a page the live cache no longer holds sees (the README: a kept answer is given
    again "never after its oldest page would have left the live cache")."""
    await hold_automatic_storage()
    linkedin = {"first": 5, "filter": {"channels": ["LINKEDIN"]}}
    whatsapp = {"first": 5, "filter": {"channels": ["WHATSAPP"]}}
    with serve(LIVE_CACHE_ENTRIES="1", KEPT_RESPONSE_BYTES=kept_bytes) as inbox:
        before = [await inbox.query(PAGE, linkedin) for _ in range(3)]
        assert is_kept(before[-1]) == (kept_bytes != "0")
        # The live cache's one entry is now WhatsApp's page.
        await inbox.query(PAGE, whatsapp)
        chat = nodes(before[-1])[-1]
        await inbox.sandbox_post(
            "/_sandbox/messages",
            {"account_id": LINKEDIN, "chat_id": chat["externalId"], "text": "unannounced"},
        )
        after = await inbox.query(PAGE, linkedin)
        assert nodes(after)[0]["externalId"] == chat["externalId"]


# -- paging ---------------------------------------------------------------------------------


async def test_the_cursors_of_a_kept_page_resume_for_the_paging_ttl_after_it_was_given(
    serve: Serve,  # noqa: F811
) -> None:
    """Given again 1.5 s after the read it was kept from, its cursors resume 0.8 s later, past
    the 2 s the paging records of that read were kept for: giving it again wrote them again."""
    await hold_automatic_storage()
    first_five = {"first": 5}
    with serve(PAGING_TTL_SECONDS="2") as inbox:
        await keep(inbox, PAGE, first_five)
        await asyncio.sleep(1.5)
        page = await inbox.query(PAGE, first_five)
        assert is_kept(page)
        await asyncio.sleep(0.8)
        after = page["data"]["conversations"]["pageInfo"]["endCursor"]
        following = await inbox.query(PAGE, {**first_five, "after": after})
        assert "errors" not in following, following["errors"]
        assert len(nodes(following)) == 5

"""Kept answers seen from outside: a query asked again is given the answer it got before, without
executing it, only to the same viewer, only while what it was made of is unchanged and fresh, and
never for a mutation, an error or a refused token. (Every writer ending them: tests/crm_caching,
which runs with kept answers on as well.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from access.directory import set_user_active
from core.vocabulary import ReceiptState
from db.models import WebhookReceipt
from server.app import create_app
from server.demo import DEMO_USERS
from server.kept_responses import KeptResponses
from server.webhooks import register_webhooks
from tests.accounts.conftest import second_workspace_token
from tests.inbox.conftest import (  # noqa: F401 (pytest passes the fixtures imported)
    SANDBOX_KEY,
    WEBHOOK_SECRET,
    Inbox,
    demo_tokens,
    inbox_settings,
    sandbox_url,
    server_environment,
)
from tests.inbox.test_conversations import ALICE_ACCOUNTS, PAGE, hold_automatic_storage
from tests.inbox.test_live_cache import processed
from tests.processes import served_processes
from unipile import UnipileClient
from unipile.sandbox.testing import running_app

GMAIL, OUTLOOK, LINKEDIN, WHATSAPP = ALICE_ACCOUNTS
FIRST_50 = {"first": 50}
BOB_WHATSAPP = "acc_whatsapp_demo_0001"


@dataclass(frozen=True)
class Served(Inbox):
    kept: KeptResponses = field(kw_only=True)


Serve = Callable[..., AbstractContextManager[Served]]


@pytest.fixture
def serve(
    database: str,
    demo_tokens: dict[str, str],  # noqa: F811
    sandbox_url: str,  # noqa: F811
    tmp_path: Path,
) -> Serve:
    """The app with the live cache at its default freshness (kept answers on), told of changes
    by webhooks; `extra` changes settings."""

    @contextmanager
    def served(**extra: str) -> Iterator[Served]:
        settings = {"LIVE_CACHE_SECONDS": "60", **extra}
        app = create_app(inbox_settings(database, tmp_path, sandbox_url, settings))
        with running_app(app) as url:
            kept = app.state.switchboard.kept_responses
            yield Served(url, sandbox_url, demo_tokens, keeps_answers=True, kept=kept)

    return served


@pytest.fixture
async def cached(serve: Serve) -> AsyncIterator[Served]:
    await hold_automatic_storage()
    with serve() as inbox:
        async with httpx.AsyncClient() as http:
            client = UnipileClient(http, inbox.sandbox, SANDBOX_KEY)
            await register_webhooks(client, url=inbox.url, secret=WEBHOOK_SECRET)
        yield inbox


async def post(
    inbox: Inbox, body: dict[str, Any], token: str | None, accept: str = "application/json"
) -> httpx.Response:
    headers = {"Accept": accept}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(base_url=inbox.url, timeout=30) as client:
        return await client.post("/graphql", json=body, headers=headers)


def cost(result: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = result["extensions"]["cost"]
    return found


def without_cost(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "extensions"}


async def processed_count() -> int:
    return await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count()


async def kept_page(inbox: Inbox, user: str = "alice") -> dict[str, Any]:
    """The page read until it is given again from where it was kept (the first read fills the
    live cache, the second is made of cached reads alone and is kept)."""
    executed = [await inbox.query(PAGE, FIRST_50, user=user) for _ in range(2)]
    assert all("keptAnswer" not in cost(result) for result in executed)
    again = await inbox.query(PAGE, FIRST_50, user=user)
    assert cost(again) == {"dbQueries": 1, "upstreamRequests": 0, "keptAnswer": True}
    assert without_cost(again) == without_cost(executed[1])
    return again


async def test_a_query_asked_again_is_given_its_kept_answer_without_executing_it(
    cached: Served,
) -> None:
    await kept_page(cached)
    stats = cached.kept.stats
    assert (stats.kept, stats.hits) == (1, 1)
    await cached.upstream_stats()
    for _ in range(3):
        assert cost(await cached.query(PAGE, FIRST_50))["keptAnswer"]
    assert (await cached.upstream_stats())["total"] == 0
    assert (stats.kept, stats.hits) == (1, 4)


async def test_the_kept_answer_has_the_same_body_for_each_media_type(cached: Served) -> None:
    await kept_page(cached)
    body = {"query": PAGE, "variables": FIRST_50}
    for accept in ("application/json", "application/graphql-response+json"):
        response = await post(cached, body, cached.tokens["alice"], accept)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(accept)
        assert cost(response.json())["keptAnswer"]


async def test_other_variables_or_operation_names_are_other_answers(cached: Served) -> None:
    await kept_page(cached)
    ten = await cached.query(PAGE, {"first": 10})
    assert "keptAnswer" not in cost(ten)
    assert len(ten["data"]["conversations"]["edges"]) == 10
    renamed = await post(
        cached,
        {"query": PAGE, "variables": FIRST_50, "operationName": "Page"},
        cached.tokens["alice"],
    )
    assert "keptAnswer" not in cost(renamed.json())


async def test_another_user_and_another_workspace_never_get_alices_answer(
    cached: Served,
) -> None:
    alice = await kept_page(cached)
    cached.tokens["eve"] = await second_workspace_token()
    for user in ("bob", "eve"):
        theirs = await cached.query(PAGE, FIRST_50, user=user)
        assert "keptAnswer" not in cost(theirs)
        assert theirs["data"] != alice["data"]
    eve = await cached.query(PAGE, FIRST_50, user="eve")
    assert eve["data"]["conversations"]["edges"] == []
    await cached.query(PAGE, FIRST_50, user="bob")
    bob = await cached.query(PAGE, FIRST_50, user="bob")
    assert cost(bob)["keptAnswer"]
    accounts = {e["node"]["account"]["externalId"] for e in bob["data"]["conversations"]["edges"]}
    assert GMAIL not in accounts and OUTLOOK not in accounts


@pytest.mark.parametrize(
    "token",
    [None, "not-a-token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged"],
    ids=["no token", "garbage", "forged"],
)
async def test_a_refused_token_is_never_given_a_kept_answer(
    cached: Served, token: str | None
) -> None:
    await kept_page(cached)
    response = await post(cached, {"query": PAGE, "variables": FIRST_50}, token)
    result = response.json()
    assert result.get("data") is None
    assert {error["extensions"]["code"] for error in result["errors"]} == {"UNAUTHENTICATED"}


async def test_a_user_disabled_after_their_answer_was_kept_is_refused(cached: Served) -> None:
    await kept_page(cached, "bob")
    await set_user_active(DEMO_USERS["bob"][0], False)
    result = await cached.query(PAGE, FIRST_50, user="bob")
    assert result["data"] is None
    assert {error["extensions"]["code"] for error in result["errors"]} == {"UNAUTHENTICATED"}


async def test_a_new_message_webhook_ends_the_answers_made_of_its_account(
    cached: Served,
) -> None:
    page = await kept_page(cached)
    chat = next(
        e["node"]
        for e in page["data"]["conversations"]["edges"]
        if e["node"]["account"]["externalId"] == LINKEDIN
    )
    before = await processed_count()
    await cached.sandbox_post(
        "/_sandbox/messages",
        {"account_id": LINKEDIN, "chat_id": chat["externalId"], "text": "kept no more"},
    )
    await processed(before)
    fresh = await cached.query(PAGE, FIRST_50)
    assert "keptAnswer" not in cost(fresh)
    top = fresh["data"]["conversations"]["edges"][0]["node"]
    assert top["externalId"] == chat["externalId"]
    assert top["lastMessageAt"] > chat["lastMessageAt"]


async def test_mutations_are_never_kept(cached: Served) -> None:
    mutation = """mutation { setStoragePolicy(input: {channel: WHATSAPP, policy: MANUAL}) {
      error { code } } }"""
    results = [await cached.query(mutation) for _ in range(3)]
    assert all("errors" not in result for result in results)
    assert all("keptAnswer" not in cost(result) for result in results)
    assert all(cost(result)["dbQueries"] > 1 for result in results)
    assert cached.kept.stats.kept == 0


async def test_an_answer_with_errors_is_never_kept(cached: Served) -> None:
    await cached.query(PAGE, FIRST_50)
    await cached.sandbox_post("/_sandbox/faults", {"error_rate": 1.0})
    before = await processed_count()
    await cached.sandbox_post(f"/_sandbox/accounts/{LINKEDIN}/status", {"status": "CREDENTIALS"})
    await processed(before)
    failing = [await cached.query(PAGE, FIRST_50) for _ in range(3)]
    assert all(result["errors"] for result in failing)
    assert all("keptAnswer" not in cost(result) for result in failing)


@pytest.mark.parametrize(
    "variables",
    [
        {"first": 50, "after": "x" * 500_000},
        {"first": 50, "filter": {"accountIds": ["../" * 100_000]}},
        {"first": -1},
    ],
    ids=["long cursor", "path-like account id", "negative first"],
)
async def test_bad_input_is_refused_every_time_never_kept(
    cached: Served, variables: dict[str, Any]
) -> None:
    for _ in range(3):
        result = await cached.query(PAGE, variables)
        assert result["errors"], result
        assert {error["extensions"]["code"] for error in result["errors"]} == {"BAD_USER_INPUT"}
    assert cached.kept.stats.kept == 0


async def test_an_answer_is_never_older_than_the_live_cache_serves_a_page(serve: Serve) -> None:
    await hold_automatic_storage()
    with serve(LIVE_CACHE_SECONDS="1") as inbox:
        await kept_page(inbox)
        await asyncio.sleep(1.1)
        await inbox.upstream_stats()
        late = await inbox.query(PAGE, FIRST_50)
        assert "keptAnswer" not in cost(late)
        assert cost(late)["upstreamRequests"] > 0


@pytest.mark.parametrize("setting", ["1000", "0"])
async def test_answers_past_the_byte_bound_or_with_keeping_off_are_executed(
    serve: Serve, setting: str
) -> None:
    await hold_automatic_storage()
    with serve(KEPT_RESPONSE_BYTES=setting) as inbox:
        results = [await inbox.query(PAGE, FIRST_50) for _ in range(4)]
        assert all("keptAnswer" not in cost(result) for result in results)
        assert len(inbox.kept) == 0


WHATSAPP_PAGE = """query WhatsApp { conversations(first: 20, filter: {channels: [WHATSAPP]}) {
  edges { node { externalId isGroup lastMessageAt } } } }"""


async def test_with_redis_a_webhook_on_one_process_ends_the_answers_kept_on_another(
    database: str,
    demo_tokens: dict[str, str],  # noqa: F811
    sandbox_url: str,  # noqa: F811
    redis_url: str,
    tmp_path: Path,
) -> None:
    await hold_automatic_storage()
    extra = {"REDIS_URL": redis_url, "LIVE_CACHE_SECONDS": "60", "LOG_LEVEL": "WARNING"}
    environment = server_environment(database, sandbox_url, extra)
    with served_processes(("a", "b"), environment, tmp_path) as (process_a, process_b):
        on_b = Inbox(process_b, sandbox_url, demo_tokens)
        answers = [await on_b.query(WHATSAPP_PAGE, user="bob") for _ in range(3)]
        assert cost(answers[-1]).get("keptAnswer"), answers[-1]
        edges = answers[-1]["data"]["conversations"]["edges"]
        chat = next(e["node"] for e in edges if not e["node"]["isGroup"])
        async with httpx.AsyncClient() as http:
            body = {"account_id": BOB_WHATSAPP, "chat_id": chat["externalId"], "text": "via a"}
            sent = (await http.post(f"{sandbox_url}/_sandbox/messages", json=body)).json()
            before = await processed_count()
            webhook = {
                "event": "message_received",
                "account_id": BOB_WHATSAPP,
                "chat_id": chat["externalId"],
                "message_id": sent["id"],
                "message": "via a",
                "sender": {"attendee_name": "X", "attendee_provider_id": sent["sender_id"]},
            }
            response = await http.post(
                f"{process_a}/webhooks/unipile",
                json=webhook,
                headers={"Unipile-Auth": WEBHOOK_SECRET},
            )
            assert response.json()["status"] == "recorded"
        await processed(before)
        fresh = await on_b.query(WHATSAPP_PAGE, user="bob")
        assert "keptAnswer" not in cost(fresh)
        top = fresh["data"]["conversations"]["edges"][0]["node"]
        assert top["externalId"] == chat["externalId"]
        assert top["lastMessageAt"] > chat["lastMessageAt"]

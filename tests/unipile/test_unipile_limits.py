"""The client within an operation's deadline and request budget, and the sandbox's hung
accounts."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.unipile.unipile_testkit import GMAIL, WHATSAPP, ClientFactory
from unipile import (
    RateLimitedError,
    UnipileClient,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    count_requests,
    may_have_been_accepted,
)
from unipile._counting import RequestBudgetExceeded, request_budget, upstream_deadline

EMPTY = {"object": "ChatList", "items": [], "cursor": None}


def mock_client(handler: httpx.MockTransport, **options: object) -> UnipileClient:
    http = httpx.AsyncClient(transport=handler)
    return UnipileClient(http, "http://unipile.test", "k", **options)  # type: ignore[arg-type]


def answering(status: int, headers: dict[str, str] | None = None) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=EMPTY if status == 200 else {}, headers=headers)

    return httpx.MockTransport(answer)


def hanging(sent: list[httpx.Request]) -> httpx.MockTransport:
    async def hang(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        await asyncio.sleep(60)
        raise AssertionError("not cut off")

    return httpx.MockTransport(hang)


async def test_retries_and_backoff_end_at_the_deadline() -> None:
    # Without the deadline: five attempts and up to 0.5 + 1 + 2 + 4 s of backoff.
    client = mock_client(answering(503), backoff_base=0.5, backoff_max=5.0)
    started = time.monotonic()
    with count_requests() as counter, upstream_deadline(0.6):
        with pytest.raises(UpstreamUnavailableError):
            await client.list_chats(account_id=WHATSAPP)
    assert time.monotonic() - started < 0.6
    assert 1 <= counter.value < 5


async def test_a_retry_after_past_the_deadline_is_not_waited() -> None:
    client = mock_client(answering(429, {"Retry-After": "2"}), backoff_max=5.0)
    started = time.monotonic()
    with count_requests() as counter, upstream_deadline(1.0):
        with pytest.raises(RateLimitedError) as caught:
            await client.list_chats(account_id=WHATSAPP)
    assert caught.value.retry_after == 2
    assert counter.value == 1 and time.monotonic() - started < 0.5
    # The same wait, within a longer deadline, is waited.
    with count_requests() as counter, upstream_deadline(10.0):
        with pytest.raises(RateLimitedError):
            await mock_client(answering(429, {"Retry-After": "0.05"}), max_retries=2).list_chats()
    assert counter.value == 3


async def test_an_attempts_timeouts_are_capped_by_the_time_left() -> None:
    seen: list[dict[str, float | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=EMPTY)

    client = mock_client(httpx.MockTransport(record))
    await client.list_chats()
    with upstream_deadline(2.0):
        await client.list_chats()
    free, capped = seen
    assert free == {"connect": 5.0, "read": 15.0, "write": 15.0, "pool": 15.0}
    assert all(value is not None and 1.5 < value <= 2.0 for value in capped.values()), capped


async def test_a_hung_call_is_cut_off_at_the_deadline_and_frees_its_slot() -> None:
    sent: list[httpx.Request] = []
    client = mock_client(hanging(sent), per_account_concurrency=1)
    started = time.monotonic()
    with upstream_deadline(0.3), pytest.raises(UpstreamTimeoutError) as caught:
        await client.list_chats(account_id=WHATSAPP)
    assert 0.3 <= time.monotonic() - started < 1.0
    assert len(sent) == 1
    assert may_have_been_accepted(caught.value)  # it was sent: its outcome is unknown
    # The account's one slot is free again: the next call is sent at once.
    with upstream_deadline(0.3), pytest.raises(UpstreamTimeoutError):
        await client.list_chats(account_id=WHATSAPP)
    assert len(sent) == 2


async def test_a_call_waiting_for_a_slot_gives_up_at_the_deadline_unsent() -> None:
    sent: list[httpx.Request] = []
    client = mock_client(hanging(sent), per_account_concurrency=1)
    with upstream_deadline(0.3):
        results = await asyncio.gather(
            client.list_chats(account_id=WHATSAPP),
            client.send_chat_message("chat", text="hi", account_id=WHATSAPP),
            return_exceptions=True,
        )
    assert all(isinstance(result, UpstreamTimeoutError) for result in results)
    assert len(sent) == 1 and sent[0].method == "GET"
    # The send never left: its idempotency key may be released.
    assert not may_have_been_accepted(results[1])  # type: ignore[arg-type]


async def test_nothing_is_sent_once_the_deadline_passed() -> None:
    sent: list[httpx.Request] = []
    client = mock_client(hanging(sent))
    with count_requests() as counter, upstream_deadline(0.05):
        await asyncio.sleep(0.1)
        with pytest.raises(UpstreamTimeoutError) as caught:
            await client.send_email(account_id=GMAIL, body="x", to=["a@b.c"])
    assert sent == [] and counter.value == 0
    assert not may_have_been_accepted(caught.value)


async def test_a_nested_deadline_cannot_extend_the_enclosing_one() -> None:
    with upstream_deadline(0.5) as outer, upstream_deadline(10.0) as inner:
        assert inner == outer


async def test_without_a_deadline_the_client_waits_as_before() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503 if calls < 3 else 200, json=EMPTY)

    client = mock_client(httpx.MockTransport(flaky), backoff_base=0.01)
    assert (await client.list_chats()).items == ()
    assert calls == 3


async def test_the_budget_refuses_the_attempt_past_it_unsent() -> None:
    sent = 0

    def count(request: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        return httpx.Response(200, json=EMPTY)

    client = mock_client(httpx.MockTransport(count))
    with request_budget(3) as budget:
        for _ in range(3):
            await client.list_chats()
        with pytest.raises(RequestBudgetExceeded) as caught:
            await client.list_chats()
    assert caught.value.limit == 3
    assert sent == 3 and (budget.used, budget.refused) == (3, 1)
    await client.list_chats()  # outside the block: no budget


async def test_retries_count_against_the_budget_and_the_error_is_the_callers() -> None:
    class Refused(Exception):
        pass

    client = mock_client(answering(503), backoff_base=0.001, max_retries=10)
    with request_budget(4, lambda limit: Refused(limit)), pytest.raises(Refused):
        await client.list_chats()


async def test_child_tasks_share_the_budget() -> None:
    client = mock_client(answering(200))
    with request_budget(5) as budget:
        results = await asyncio.gather(
            *(client.list_chats(account_id=f"acc{n}") for n in range(8)), return_exceptions=True
        )
    assert sum(isinstance(result, RequestBudgetExceeded) for result in results) == 3
    assert budget.used == 5


async def test_a_hung_account_hangs_every_call_naming_it(
    make_client: ClientFactory, admin: httpx.AsyncClient
) -> None:
    client = make_client()
    chat = (await client.list_chats(account_id=WHATSAPP, limit=1)).items[0]
    faults = (await admin.post("/_sandbox/faults", json={"hang_accounts": [WHATSAPP]})).json()
    assert faults["hang_accounts"] == [WHATSAPP] and faults["hang_rate"] == 0
    for call in (
        lambda: client.list_chats(account_id=WHATSAPP),
        lambda: client.get_chat(chat.id),
        lambda: client.list_chat_attendees(chat.id),
    ):
        with upstream_deadline(0.3), pytest.raises(UpstreamTimeoutError):
            await call()
    # Other accounts answer, and so do reads of every account at once.
    assert (await client.list_emails(account_id=GMAIL, limit=1)).items
    assert (await client.list_accounts()).items
    await admin.post("/_sandbox/faults", json={"hang_accounts": []})
    assert (await client.list_chats(account_id=WHATSAPP, limit=1)).items == (chat,)


async def test_a_hung_account_ends_with_504_after_hang_s(
    make_client: ClientFactory, admin: httpx.AsyncClient
) -> None:
    await admin.post("/_sandbox/faults", json={"hang_accounts": [WHATSAPP], "hang_s": 0.2})
    with pytest.raises(UpstreamTimeoutError) as caught:
        await make_client(max_retries=0).list_chats(account_id=WHATSAPP)
    assert caught.value.status == 504

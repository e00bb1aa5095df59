"""Retries under injected faults, request counting, and the per-account concurrency bound."""

from __future__ import annotations

import asyncio

import httpx

from tests.unipile.unipile_testkit import WHATSAPP, ClientFactory, collect
from unipile import UnipileClient, count_requests


async def all_whatsapp_chats(client: UnipileClient) -> list[str]:
    chats = await collect(
        lambda cursor: client.list_chats(account_id=WHATSAPP, limit=20, cursor=cursor)
    )
    return [chat.id for chat in chats]


async def test_faults_do_not_change_the_listing(
    make_client: ClientFactory, admin: httpx.AsyncClient
) -> None:
    client = make_client(max_retries=10, backoff_base=0.001, backoff_max=0.05)
    expected = await all_whatsapp_chats(client)
    faults = {"error_rate": 0.2, "rate_limit_rate": 0.1, "rate_limit_retry_after_s": 0.01}
    (await admin.post("/_sandbox/faults", json=faults)).raise_for_status()
    await admin.post("/_sandbox/stats/reset")
    with count_requests() as counter:
        assert await all_whatsapp_chats(client) == expected
    pages = -(-len(expected) // 20)
    assert counter.value > pages  # some attempts failed and were retried
    stats = (await admin.get("/_sandbox/stats")).json()
    assert stats == {"requests": {"GET /api/v1/chats": counter.value}, "total": counter.value}


async def test_latency_is_applied(make_client: ClientFactory, admin: httpx.AsyncClient) -> None:
    await admin.post("/_sandbox/faults", json={"latency_ms": 150, "jitter_ms": 10})
    loop = asyncio.get_running_loop()
    started = loop.time()
    await make_client().list_accounts()
    assert loop.time() - started >= 0.15
    assert (await admin.get("/_sandbox/faults")).json()["latency_ms"] == 150


async def test_stats_count_route_templates(client: UnipileClient, admin: httpx.AsyncClient) -> None:
    chats = (await client.list_chats(limit=3)).items
    for chat in chats:
        await client.get_chat(chat.id)
    stats = (await admin.get("/_sandbox/stats")).json()
    assert stats["requests"]["GET /api/v1/chats/{chat_id}"] == 3
    assert stats["total"] == 4
    assert (await admin.post("/_sandbox/stats/reset")).json()["total"] == 0


async def test_per_account_concurrency_is_bounded(sandbox_url: str) -> None:
    active = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.02)
        active -= 1
        return httpx.Response(200, json={"object": "ChatList", "items": [], "cursor": None})

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as http:
        client = UnipileClient(http, sandbox_url, "k", per_account_concurrency=3)
        await asyncio.gather(*(client.list_chats(account_id=WHATSAPP) for _ in range(12)))
        assert peak == 3
        peak = 0
        await asyncio.gather(*(client.list_chats(account_id=f"acc{i}") for i in range(6)))
        assert peak == 6

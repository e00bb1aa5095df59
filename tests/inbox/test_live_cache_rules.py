"""The live cache's rules, over the sandbox: freshness, versions, bounds, what may stand in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from db.versions import MemoryVersions, RedisVersions, Versions
from inbox.live_cache import Listing, LiveCache, RedisSharedPages
from tests.inbox.conftest import SANDBOX_KEY
from unipile import Chat, Email, InvalidRequestError, UnipileClient, UpstreamUnavailableError

LINKEDIN = "acc_linkedin_demo_0001"
WHATSAPP = "acc_whatsapp_demo_0001"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(sandbox_url: str) -> AsyncIterator[UnipileClient]:
    async with httpx.AsyncClient() as http:
        yield UnipileClient(http, sandbox_url, SANDBOX_KEY, max_retries=0)


async def chats(cache: LiveCache, account: str, **filters: Any) -> Listing[Chat]:
    """The account's chats through the cache, each parsed whole."""
    return await cache.read(account, cache.client.chats_call(account_id=account, **filters))


async def emails(cache: LiveCache, account: str, **filters: Any) -> Listing[Email]:
    """The account's emails (without bodies) through the cache, each parsed whole."""
    call = cache.client.emails_call(account_id=account, meta_only=True, **filters)
    return await cache.read(account, call)


async def requests(sandbox_url: str) -> int:
    async with httpx.AsyncClient(base_url=sandbox_url) as admin:
        total = int((await admin.get("/_sandbox/stats")).json()["total"])
        await admin.post("/_sandbox/stats/reset")
    return total


async def faults(sandbox_url: str, **values: object) -> None:
    async with httpx.AsyncClient(base_url=sandbox_url) as admin:
        (await admin.post("/_sandbox/faults", json=values)).raise_for_status()


async def test_a_page_is_current_for_ttl_seconds(client: UnipileClient, sandbox_url: str) -> None:
    clock = Clock()
    cache = LiveCache(client, MemoryVersions(), ttl=30, clock=clock)
    first = await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
    clock.now = 29.9
    assert await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None) is first
    clock.now = 30.0
    again = await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
    assert again is not first and again.fetched_at >= first.fetched_at
    assert await requests(sandbox_url) == 2
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)


async def test_each_parameter_is_its_own_page(client: UnipileClient, sandbox_url: str) -> None:
    cache = LiveCache(client, MemoryVersions())
    await requests(sandbox_url)
    await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
    await chats(cache, LINKEDIN, unread=True, limit=5, cursor=None)
    await chats(cache, LINKEDIN, unread=None, limit=6, cursor=None)
    await chats(cache, WHATSAPP, unread=None, limit=5, cursor=None)
    await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
    assert await requests(sandbox_url) == 4


async def test_invalidating_an_account_ends_only_its_pages(
    client: UnipileClient, sandbox_url: str
) -> None:
    cache = LiveCache(client, MemoryVersions())
    await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
    await chats(cache, WHATSAPP, unread=None, limit=5, cursor=None)
    await requests(sandbox_url)
    await cache.invalidate([LINKEDIN])
    await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
    await chats(cache, WHATSAPP, unread=None, limit=5, cursor=None)
    assert await requests(sandbox_url) == 1


async def test_the_entries_are_bounded_least_recently_used_first(client: UnipileClient) -> None:
    cache = LiveCache(client, MemoryVersions(), entries=3)
    for limit in (1, 2, 3):
        await chats(cache, LINKEDIN, unread=None, limit=limit, cursor=None)
    await chats(cache, LINKEDIN, unread=None, limit=1, cursor=None)
    await chats(cache, LINKEDIN, unread=None, limit=4, cursor=None)
    assert len(cache) == 3
    misses = cache.stats.misses
    await chats(cache, LINKEDIN, unread=None, limit=1, cursor=None)
    assert cache.stats.misses == misses, "the page read last is kept"
    await chats(cache, LINKEDIN, unread=None, limit=2, cursor=None)
    assert cache.stats.misses == misses + 1, "the least recently read page went first"


async def test_many_readers_of_a_page_share_one_call_even_if_the_first_gives_up(
    client: UnipileClient, sandbox_url: str
) -> None:
    cache = LiveCache(client, MemoryVersions())
    await faults(sandbox_url, latency_ms=300)
    await requests(sandbox_url)
    readers = [
        asyncio.create_task(chats(cache, LINKEDIN, unread=None, limit=5, cursor=None))
        for _ in range(20)
    ]
    await asyncio.sleep(0.05)
    readers[0].cancel()
    listings = await asyncio.gather(*readers[1:])
    assert len({id(listing) for listing in listings}) == 1
    assert await requests(sandbox_url) == 1
    assert (cache.stats.misses, cache.stats.shared) == (1, 19)


async def test_the_last_good_page_stands_in_for_a_failure_with_the_error(
    client: UnipileClient, sandbox_url: str
) -> None:
    cache = LiveCache(client, MemoryVersions(), ttl=0)
    good = await emails(cache, "acc_gmail_demo_000001", folder=None, limit=10, cursor=None)
    await faults(sandbox_url, error_rate=1.0)
    served = await emails(cache, "acc_gmail_demo_000001", folder=None, limit=10, cursor=None)
    assert served.page is good.page and served.fetched_at == good.fetched_at
    assert isinstance(served.error, UpstreamUnavailableError)
    with pytest.raises(UpstreamUnavailableError):
        await emails(cache, "acc_gmail_demo_000001", folder=None, limit=11, cursor=None)
    await faults(sandbox_url, error_rate=0.0)
    fresh = await emails(cache, "acc_gmail_demo_000001", folder=None, limit=10, cursor=None)
    assert fresh.error is None and fresh.fetched_at > good.fetched_at


async def test_a_refused_request_gets_no_stand_in(client: UnipileClient) -> None:
    cache = LiveCache(client, MemoryVersions(), ttl=0)
    with pytest.raises(InvalidRequestError):
        await chats(cache, LINKEDIN, unread=None, limit=5, cursor="not a cursor the sandbox made")


async def test_a_slow_fetch_under_an_old_version_keeps_the_newer_page(
    client: UnipileClient, sandbox_url: str
) -> None:
    cache = LiveCache(client, MemoryVersions())
    await faults(sandbox_url, latency_ms=300)
    slow = asyncio.create_task(chats(cache, LINKEDIN, unread=None, limit=5, cursor=None))
    await asyncio.sleep(0.05)
    await cache.invalidate([LINKEDIN])
    await faults(sandbox_url, latency_ms=0)
    newer = await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
    await slow
    await requests(sandbox_url)
    assert await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None) is newer
    assert await requests(sandbox_url) == 0


async def test_an_invalidation_in_one_process_reaches_the_other_through_redis(
    client: UnipileClient, sandbox_url: str, redis_url: str
) -> None:
    versions: list[Versions] = [RedisVersions(redis_url), RedisVersions(redis_url)]
    try:
        here, there = (LiveCache(client, v) for v in versions)
        await chats(there, LINKEDIN, unread=None, limit=5, cursor=None)
        await requests(sandbox_url)
        await here.invalidate([LINKEDIN])
        await chats(there, LINKEDIN, unread=None, limit=5, cursor=None)
        assert await requests(sandbox_url) == 1
    finally:
        for each in versions:
            await each.aclose()


async def test_with_redis_a_page_one_process_read_serves_the_others(
    client: UnipileClient, sandbox_url: str, redis_url: str
) -> None:
    versions = [RedisVersions(redis_url), RedisVersions(redis_url)]
    here, there = (LiveCache(client, v, shared=RedisSharedPages(redis_url)) for v in versions)
    try:
        await here.invalidate([LINKEDIN])
        await requests(sandbox_url)
        read = await chats(here, LINKEDIN, unread=None, limit=7, cursor=None)
        found = await chats(there, LINKEDIN, unread=None, limit=7, cursor=None)
        assert await requests(sandbox_url) == 1
        assert found.page == read.page and found.fetched_at == read.fetched_at
        assert (there.stats.shared_hits, there.stats.misses) == (1, 0)
        await here.invalidate([LINKEDIN])
        await chats(there, LINKEDIN, unread=None, limit=7, cursor=None)
        assert await requests(sandbox_url) == 1
    finally:
        for cache in (here, there):
            await cache.aclose()
            await cache.versions.aclose()


async def test_redis_failing_costs_the_sharing_not_the_read(
    client: UnipileClient, sandbox_url: str
) -> None:
    cache = LiveCache(client, MemoryVersions(), shared=RedisSharedPages("redis://127.0.0.1:1"))
    try:
        listing = await chats(cache, LINKEDIN, unread=None, limit=5, cursor=None)
        assert listing.error is None and listing.page.items
    finally:
        await cache.aclose()

"""The last good page across processes: with Redis, a process that never read a list serves the
page another process last read when UniPile fails, marked with the error; never another list's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis

from db.versions import RedisVersions
from inbox.live_cache import LiveCache, RedisSharedPages
from tests.inbox.conftest import SANDBOX_KEY
from tests.inbox.test_live_cache_rules import chats
from unipile import UnipileClient, UpstreamUnavailableError

LINKEDIN = "acc_linkedin_demo_0001"
WHATSAPP = "acc_whatsapp_demo_0001"


@pytest.fixture
async def client(sandbox_url: str) -> AsyncIterator[UnipileClient]:
    async with httpx.AsyncClient() as http:
        yield UnipileClient(http, sandbox_url, SANDBOX_KEY, max_retries=0)


@pytest.fixture
async def processes(client: UnipileClient, redis_url: str) -> AsyncIterator[list[LiveCache]]:
    """Two processes' caches on one Redis, which holds no copy of the lists yet."""
    await forget_last_good_pages(redis_url)
    caches = [
        LiveCache(client, RedisVersions(redis_url), shared=RedisSharedPages(redis_url))
        for _ in range(2)
    ]
    await caches[0].invalidate([LINKEDIN, WHATSAPP])
    yield caches
    for cache in caches:
        await cache.aclose()
        await cache.versions.aclose()


async def forget_last_good_pages(redis_url: str) -> None:
    client = redis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match="switchboard:live-page-last:*"):
            await client.delete(key)
    finally:
        await client.aclose()


async def fail_upstream(sandbox_url: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox_url) as admin:
        (await admin.post("/_sandbox/faults", json={"error_rate": 1.0})).raise_for_status()


async def test_a_page_another_process_read_stands_in_when_unipile_fails(
    processes: list[LiveCache], sandbox_url: str
) -> None:
    here, there = processes
    good = await chats(here, LINKEDIN, unread=None, limit=6, cursor=None)
    # Changed since: the copy is no longer current anywhere, only the last good one.
    await here.invalidate([LINKEDIN])
    await fail_upstream(sandbox_url)
    served = await chats(there, LINKEDIN, unread=None, limit=6, cursor=None)
    assert isinstance(served.error, UpstreamUnavailableError)
    assert (served.page, served.fetched_at) == (good.page, good.fetched_at)
    assert there.stats.stale == 1


async def test_no_other_list_stands_in_for_a_list_never_read(
    processes: list[LiveCache], sandbox_url: str
) -> None:
    here, there = processes
    await chats(here, LINKEDIN, unread=None, limit=6, cursor=None)
    await fail_upstream(sandbox_url)
    with pytest.raises(UpstreamUnavailableError):
        await chats(there, WHATSAPP, unread=None, limit=6, cursor=None)
    with pytest.raises(UpstreamUnavailableError):
        await chats(there, LINKEDIN, unread=True, limit=6, cursor=None)

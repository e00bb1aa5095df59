"""Shared streams: one producer per key, fanned out to every member, each with its own backlog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from realtime.pubsub import SubscriberDropped
from realtime.streams import Member, SharedStreams


class Producer:
    """A source whose items the test pushes, counting how often it was opened and closed."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.items: asyncio.Queue[int | None] = asyncio.Queue()

    async def source(self) -> AsyncIterator[int]:
        self.opened += 1
        try:
            while (item := await self.items.get()) is not None:
                yield item
        finally:
            self.closed += 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def next_of(member: Member[int]) -> int:
    return await asyncio.wait_for(anext(member), 1.0)


async def test_members_of_a_key_share_one_producer_and_each_get_every_item() -> None:
    streams: SharedStreams[str, int] = SharedStreams()
    producer = Producer()
    async with (
        streams.join("k", producer.source) as first,
        streams.join("k", producer.source) as second,
        streams.join("k", producer.source) as third,
    ):
        await settle()
        for item in (1, 2):
            producer.items.put_nowait(item)
        for member in (first, second, third):
            assert [await next_of(member), await next_of(member)] == [1, 2]
        assert streams.members("k") == 3
    assert producer.opened == 1
    assert streams.opened == 1


async def test_keys_are_isolated() -> None:
    streams: SharedStreams[str, int] = SharedStreams()
    mine, theirs = Producer(), Producer()
    async with (
        streams.join("mine", mine.source) as member,
        streams.join("theirs", theirs.source) as other,
    ):
        await settle()
        mine.items.put_nowait(1)
        theirs.items.put_nowait(2)
        assert await next_of(member) == 1
        assert await next_of(other) == 2
    assert (mine.opened, theirs.opened) == (1, 1)


async def test_the_producer_closes_when_the_last_member_leaves_and_a_new_one_starts() -> None:
    streams: SharedStreams[str, int] = SharedStreams()
    producer = Producer()
    async with streams.join("k", producer.source):
        async with streams.join("k", producer.source):
            await settle()
        await settle()
        assert producer.closed == 0
    assert producer.closed == 1
    assert streams.members("k") == 0
    async with streams.join("k", producer.source) as member:
        await settle()
        producer.items.put_nowait(7)
        assert await next_of(member) == 7
    assert (producer.opened, producer.closed) == (2, 2)


async def test_a_member_that_falls_behind_is_dropped_and_the_others_go_on() -> None:
    streams: SharedStreams[str, int] = SharedStreams(backlog=2)
    producer = Producer()
    async with (
        streams.join("k", producer.source) as slow,
        streams.join("k", producer.source) as quick,
    ):
        await settle()
        received = []
        for item in range(5):
            producer.items.put_nowait(item)
            await settle()
            received.append(await next_of(quick))
        assert received == [0, 1, 2, 3, 4]
        assert streams.members("k") == 1
        with pytest.raises(SubscriberDropped):
            await next_of(slow)


async def test_the_end_of_the_producer_ends_every_member_and_a_later_member_starts_anew() -> None:
    streams: SharedStreams[str, int] = SharedStreams()
    producer = Producer()
    async with (
        streams.join("k", producer.source) as first,
        streams.join("k", producer.source) as second,
    ):
        await settle()
        producer.items.put_nowait(1)
        producer.items.put_nowait(None)
        assert [item async for item in first] == [1]
        assert [item async for item in second] == [1]
        async with streams.join("k", producer.source) as later:
            await settle()
            producer.items.put_nowait(2)
            assert await next_of(later) == 2
    assert producer.opened == 2


async def test_a_failing_producer_fails_every_member() -> None:
    streams: SharedStreams[str, int] = SharedStreams()

    async def failing() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("upstream gone")

    async with (
        streams.join("k", failing) as first,
        streams.join("k", failing) as second,
    ):
        for member in (first, second):
            assert await next_of(member) == 1
            with pytest.raises(RuntimeError, match="upstream gone"):
                await next_of(member)

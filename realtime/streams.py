"""Shared streams: one producer per key, each of its items handed to every member that joined.

Subscribers that would compute the same items (the same GraphQL document, variables and viewer)
share one producer: it runs once per item however many members there are, and each member only
takes the item from its own bounded backlog. A member that falls `backlog` items behind is
dropped: its next read raises `SubscriberDropped`, as a slow pub/sub subscriber's does, and the
others go on. The producer is opened by the first member and closed when the last one leaves.

    async with streams.join(key, open_source) as items:
        async for item in items:
            ...
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager, suppress
from typing import Generic, TypeVar

from realtime.pubsub import DEFAULT_QUEUE_SIZE, SubscriberDropped

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class _Ended:
    """What a member reads once the producer is done: its failure, if it failed."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Member(Generic[T]):
    """One member's backlog and its async iterator; a few hundred bytes, like a pub/sub
    subscription."""

    __slots__ = ("_backlog", "_dropped", "_waiter")

    def __init__(self) -> None:
        self._backlog: list[T | _Ended] = []
        self._waiter: asyncio.Future[T | _Ended] | None = None
        self._dropped = False

    def offer(self, item: T | _Ended, limit: int) -> bool:
        """Pass `item` on without waiting; False if `limit` were queued and it was dropped."""
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(item)
        elif len(self._backlog) < limit or isinstance(item, _Ended):
            self._backlog.append(item)
        else:
            self._dropped = True
            return False
        self._waiter = None
        return True

    def __aiter__(self) -> Member[T]:
        return self

    async def __anext__(self) -> T:
        if self._dropped:
            raise SubscriberDropped("the member fell behind and was dropped")
        if self._backlog:
            item = self._backlog.pop(0)  # a short list: cheaper to hold than a deque
        else:
            self._waiter = asyncio.get_running_loop().create_future()
            item = await self._waiter
        if isinstance(item, _Ended):
            self._backlog.insert(0, item)  # every later read ends alike
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item


class _Group(Generic[T]):
    """A key's producer task and its members."""

    __slots__ = ("members", "task")

    def __init__(self) -> None:
        self.members: set[Member[T]] = set()
        self.task: asyncio.Task[None] | None = None


class SharedStreams(Generic[K, T]):
    """The shared streams of a process, by key."""

    def __init__(self, backlog: int = DEFAULT_QUEUE_SIZE) -> None:
        self.backlog = backlog
        self._groups: dict[K, _Group[T]] = {}
        self.opened = 0
        """Producers opened so far: tests count them."""

    def members(self, key: K) -> int:
        group = self._groups.get(key)
        return 0 if group is None else len(group.members)

    @asynccontextmanager
    async def join(
        self, key: K, open_source: Callable[[], AsyncIterator[T]]
    ) -> AsyncIterator[Member[T]]:
        """Receive the key's items from now until the block exits. `open_source` opens the
        producer when the key has none; it runs in a copy of the caller's context."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group()
            self.opened += 1
            group.task = asyncio.create_task(
                self._produce(key, group, open_source()),
                name="shared-stream",
                context=contextvars.copy_context(),
            )
        member: Member[T] = Member()
        group.members.add(member)
        try:
            yield member
        finally:
            await self._leave(key, group, member)

    async def _leave(self, key: K, group: _Group[T], member: Member[T]) -> None:
        group.members.discard(member)
        if group.members or group.task is None:
            return
        if self._groups.get(key) is group:
            del self._groups[key]
        group.task.cancel()
        with suppress(asyncio.CancelledError):
            await group.task

    async def _produce(self, key: K, group: _Group[T], source: AsyncIterator[T]) -> None:
        error: BaseException | None = None
        try:
            async for item in source:
                self._deliver(group, item)
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            error = failure
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with suppress(Exception):
                    await aclose()
            # Members joining from now on start a producer of their own.
            if self._groups.get(key) is group:
                del self._groups[key]
        ended = _Ended(error)
        for member in group.members:
            member.offer(ended, self.backlog)

    def _deliver(self, group: _Group[T], item: T) -> None:
        dropped = [member for member in group.members if not member.offer(item, self.backlog)]
        for member in dropped:
            log.warning("dropped a member of a shared stream that fell behind")
            group.members.discard(member)

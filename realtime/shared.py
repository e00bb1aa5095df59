"""Results shared by every subscriber of an event in one process."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

SHARED_RESULTS_SIZE = 256
T = TypeVar("T")


class SharedResults(Generic[T]):
    """Results per event id, computed by the first subscriber that needs them and awaited by the
    others: an event's facts are the same for every viewer of a workspace."""

    def __init__(self, size: int = SHARED_RESULTS_SIZE) -> None:
        self.size = size
        self._tasks: OrderedDict[str, asyncio.Future[T]] = OrderedDict()

    async def get(self, event_id: str, compute: Callable[[], Awaitable[T]]) -> T:
        task = self._tasks.get(event_id)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._tasks[event_id] = task
            while len(self._tasks) > self.size:
                self._tasks.popitem(last=False)
        return await asyncio.shield(task)

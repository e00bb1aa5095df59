"""Walking one live list from a lane state: the rows after it, each with the state that resumes
right after that row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from paging._state import LaneState, Position

T = TypeVar("T")
Fetch = Callable[[str | None], Awaitable[tuple[Sequence[tuple[Position, T]], str | None]]]


def _turned(state: LaneState, next_upstream: str | None) -> LaneState:
    if next_upstream is None:
        return replace(state, exhausted=True)
    return replace(state, upstream=next_upstream)


async def walk(fetch: Fetch[T], state: LaneState, first: int) -> list[tuple[T, LaneState]]:
    """Up to `first` rows after `state`, fetching upstream pages (newest first) as needed."""
    taken: list[tuple[T, LaneState]] = []
    while len(taken) < first and not state.exhausted:
        rows, next_upstream = await fetch(state.upstream)
        bound = None if state.after is None else state.after.ordering()
        fresh = [(p, row) for p, row in rows if bound is None or p.ordering() < bound]
        if not fresh:
            state = _turned(state, next_upstream)
            continue
        for index, (position, row) in enumerate(fresh):
            state = replace(state, after=position)
            if index == len(fresh) - 1:
                state = _turned(state, next_upstream)
            taken.append((row, state))
            if len(taken) == first:
                break
    return taken

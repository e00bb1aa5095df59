"""Counting the HTTP attempts the client makes, per logical operation of the caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["RequestCounter", "count_requests", "record_request"]


@dataclass(slots=True)
class RequestCounter:
    value: int = 0


# Tasks copy the context, not the counters: mutable objects make child tasks add to the same totals.
# A tuple so that an outer block also counts what a nested block counts.
_active: ContextVar[tuple[RequestCounter, ...]] = ContextVar("unipile_request_counters", default=())


@contextmanager
def count_requests() -> Iterator[RequestCounter]:
    """Count every HTTP attempt (retries included) made inside the block and its child tasks."""
    counter = RequestCounter()
    token = _active.set((*_active.get(), counter))
    try:
        yield counter
    finally:
        _active.reset(token)


def record_request() -> None:
    for counter in _active.get():
        counter.value += 1

"""Accounting of the HTTP attempts the client makes, per logical operation of the caller: counting
them, bounding their number (a budget) and the time they may take together (a deadline).

All three live in context variables, so the caller sets them once around an operation and every
client call made inside it, in child tasks too, obeys them without being passed anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = [
    "RequestBudget",
    "RequestBudgetExceeded",
    "RequestCounter",
    "count_requests",
    "current_deadline",
    "record_request",
    "request_budget",
    "upstream_deadline",
]


@dataclass(slots=True)
class RequestCounter:
    value: int = 0


# Tasks copy the context, not the counters: mutable objects make child tasks add to the same totals.
# A tuple so that an outer block also counts what a nested block counts.
_active: ContextVar[tuple[RequestCounter, ...]] = ContextVar("unipile_request_counters", default=())


class RequestBudgetExceeded(Exception):
    """Raised instead of an attempt past the budget. Deliberately not a `UnipileError`: code that
    handles one account's upstream failure (and goes on with the others) must not mistake the
    whole operation's refusal for it."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} UniPile requests in one operation")
        self.limit = limit


@dataclass(slots=True)
class RequestBudget:
    limit: int
    error: Callable[[int], Exception]
    """Builds the exception raised in place of an attempt past the limit."""
    used: int = 0
    refused: int = 0


_budget: ContextVar[RequestBudget | None] = ContextVar("unipile_request_budget", default=None)
# The loop time (`loop.time()`) by which every attempt must have ended; None: no deadline.
_deadline: ContextVar[float | None] = ContextVar("unipile_deadline", default=None)


@contextmanager
def count_requests() -> Iterator[RequestCounter]:
    """Count every HTTP attempt (retries included) made inside the block and its child tasks."""
    counter = RequestCounter()
    token = _active.set((*_active.get(), counter))
    try:
        yield counter
    finally:
        _active.reset(token)


@contextmanager
def request_budget(
    limit: int, error: Callable[[int], Exception] = RequestBudgetExceeded
) -> Iterator[RequestBudget]:
    """Allow at most `limit` HTTP attempts (retries included) inside the block and its child tasks;
    each one past it raises `error(limit)` without being sent. A nested block replaces the
    enclosing budget for its duration."""
    budget = RequestBudget(limit, error)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


@contextmanager
def upstream_deadline(seconds: float) -> Iterator[float]:
    """Every client call inside the block, and its retries, must end within `seconds` from now (or
    by an enclosing block's deadline, if sooner): no attempt or backoff starts that could not end
    in time, and an attempt still running at the deadline is cut off (as a timeout). Yields the
    deadline as a loop time."""
    at = asyncio.get_running_loop().time() + seconds
    enclosing = _deadline.get()
    if enclosing is not None:
        at = min(at, enclosing)
    token = _deadline.set(at)
    try:
        yield at
    finally:
        _deadline.reset(token)


def current_deadline() -> float | None:
    """The loop time by which the current operation's calls must end; None: no deadline."""
    return _deadline.get()


def record_request() -> None:
    """Account for one attempt about to be sent; raises the budget's error past the budget."""
    budget = _budget.get()
    if budget is not None:
        if budget.used >= budget.limit:
            budget.refused += 1
            raise budget.error(budget.limit)
        budget.used += 1
    for counter in _active.get():
        counter.value += 1

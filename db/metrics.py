"""Counting database queries per unit of work (a GraphQL request, a test).

Tortoise logs every statement it sends on its `tortoise.db_client` logger; a filter on that logger
counts them into the counter of the current context, so concurrent requests count separately.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from tortoise.log import db_client_logger

# The formats Tortoise's backends log a statement with; other records (pool set-up) are not queries.
_STATEMENT_FORMATS = frozenset({"%s: %s"})


@dataclass(slots=True)
class QueryCounter:
    value: int = 0


# A tuple so that an outer block also counts what a nested block counts.
_current: ContextVar[tuple[QueryCounter, ...]] = ContextVar(
    "switchboard_query_counters", default=()
)


class _QueryCountingFilter(logging.Filter):
    def __init__(self, show_statements: bool) -> None:
        super().__init__()
        self.show_statements = show_statements

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in _STATEMENT_FORMATS:
            for counter in _current.get():
                counter.value += 1
        return self.show_statements


def install_query_counter() -> None:
    """Make statements observable; idempotent. Statements are shown only if DEBUG was already on."""
    if any(isinstance(f, _QueryCountingFilter) for f in db_client_logger.filters):
        return
    show = db_client_logger.isEnabledFor(logging.DEBUG)
    db_client_logger.addFilter(_QueryCountingFilter(show_statements=show))
    db_client_logger.setLevel(logging.DEBUG)


@contextmanager
def count_queries() -> Iterator[QueryCounter]:
    install_query_counter()
    counter = QueryCounter()
    token = _current.set((*_current.get(), counter))
    try:
        yield counter
    finally:
        _current.reset(token)

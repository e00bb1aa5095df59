"""Database statements counted into the metrics, by the GraphQL operation that sent them.

Tortoise logs every statement on its `tortoise.db_client` logger, which `db.metrics` makes
observable; a filter there counts each one, as `db.metrics` counts them per unit of work.
"""

from __future__ import annotations

import logging

from tortoise.log import db_client_logger

from db.metrics import _STATEMENT_FORMATS, install_query_counter
from server.observability import metrics
from server.observability.operations import current_operation

NO_OPERATION = "none"


class _CountIntoMetrics(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in _STATEMENT_FORMATS:
            operation = current_operation()
            if operation is not None:
                operation.queries += 1
            metrics.DB_QUERIES.labels(
                operation.name if operation is not None else NO_OPERATION
            ).inc()
        return True


def count_queries_into_metrics() -> None:
    """Idempotent: one filter per process, whatever number of apps it builds. It goes first:
    `db.metrics`'s filter drops the records it counted unless DEBUG was on, and a logger asks no
    filter after one that dropped a record."""
    install_query_counter()
    if not any(isinstance(f, _CountIntoMetrics) for f in db_client_logger.filters):
        db_client_logger.filters.insert(0, _CountIntoMetrics())

"""Each GraphQL operation's name and outcome, bounded for labels: clients name their operations
as they like, so only names that look like GraphQL names count, and only the first
`MAX_OPERATION_NAMES` of them in a process; the others are `other`."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, aclosing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cross_web import HTTPException
from graphql import GraphQLError
from strawberry.schema.schema import StreamResult
from strawberry.types.execution import ExecutionResult

from core.errors import ErrorCode
from resolvers.context import Context
from server.observability import metrics
from server.observability.requests import current_request
from server.observability.spans import Outcome, untraced

if TYPE_CHECKING:
    from server.observability.traces import Tracing

MAX_OPERATION_NAMES = 200
ANONYMOUS = "anonymous"
OTHER = "other"
OK = "ok"
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
# Codes set on request errors before execution (schema.extensions), beside ErrorCode's.
_REQUEST_CODES = ("GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST")
OUTCOMES = frozenset({OK, *(code.value for code in ErrorCode), *_REQUEST_CODES})


class OperationNames:
    """The label for each operation name a client sends."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._seen:
            return name
        if not _GRAPHQL_NAME.fullmatch(name) or len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(name)
        return name


def outcome(result: ExecutionResult) -> str:
    """`ok`, or the code of the result's first error (`other` for an unknown one)."""
    if not result.errors:
        return OK
    return error_outcome(result.errors[0])


def error_outcome(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) and code in OUTCOMES else OTHER


@dataclass(slots=True)
class Observation:
    """An operation under way; the endpoint sets `result` once it has one."""

    name: str
    result: ExecutionResult | None = None
    queries: int = 0
    """Database statements sent for it, its child tasks' included."""


_names = OperationNames()
_current: ContextVar[Observation | None] = ContextVar("switchboard_operation", default=None)


def current_operation() -> Observation | None:
    return _current.get()


@contextmanager
def observed_operation(
    name: str | None, context: Context, tracing: Tracing | None = None
) -> Iterator[Observation]:
    """Observe one operation: its name and outcome go to the request's log line, its count,
    duration and database queries to the metrics, and a span to the trace when tracing."""
    observation = Observation(_names.label(name))
    span: AbstractContextManager[Outcome] = (
        untraced() if tracing is None else tracing.operation_span(observation.name)
    )
    token = _current.set(observation)
    started = time.perf_counter()
    with span as traced:
        try:
            yield observation
        except HTTPException:
            _done(observation, "BAD_REQUEST", context, started, traced, errors_logged=False)
            raise
        except BaseException:
            failed = ErrorCode.INTERNAL_SERVER_ERROR.value
            _done(observation, failed, context, started, traced, errors_logged=True)
            raise
        finally:
            _current.reset(token)
        result = observation.result
        answered = OK if result is None else outcome(result)
        errors = result is not None and bool(result.errors)
        _done(observation, answered, context, started, traced, errors_logged=errors)


def _done(
    observation: Observation,
    answered: str,
    context: Context,
    started: float,
    traced: Outcome,
    *,
    errors_logged: bool,
) -> None:
    name = observation.name
    traced(answered, answered != OK)
    metrics.GRAPHQL_OPERATIONS.labels(name, answered).inc()
    metrics.GRAPHQL_LATENCY.labels(name).observe(time.perf_counter() - started)
    metrics.GRAPHQL_DB_QUERIES.labels(name).observe(observation.queries)
    request = current_request()
    if request is not None:
        request.operation_done(name, answered, context.identity, errors_logged=errors_logged)


async def observed_stream(
    name: str | None, context: Context, results: StreamResult
) -> StreamResult:
    """`results` (which it closes) of an operation over the WebSocket, counted once its outcome is
    known: at its first result, or at its end if it had none. A subscription's duration is how
    long it stayed open, not a latency, so no duration or query count is observed."""
    label = _names.label(name)
    counted = False
    async with aclosing(results):
        try:
            async for result in results:
                if not counted:
                    counted = True
                    # Incremental delivery is not enabled: every result is an ExecutionResult.
                    answered = outcome(result) if isinstance(result, ExecutionResult) else OK
                    _streamed(label, answered, context, answered != OK)
                yield result
        finally:
            if not counted:
                _streamed(label, OK, context, False)


def _streamed(name: str, answered: str, context: Context, errors_logged: bool) -> None:
    metrics.GRAPHQL_OPERATIONS.labels(name, answered).inc()
    request = current_request()
    if request is not None:
        request.operation_done(name, answered, context.identity, errors_logged=errors_logged)

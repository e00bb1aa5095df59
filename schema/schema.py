"""The schema object, with its extensions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ValidationCache
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from core.errors import ErrorCode, is_unexpected
from schema.execution import SwitchboardExecutionContext
from schema.extensions import (
    Authenticate,
    CostReport,
    Limits,
    PartialErrors,
    QueriesOnly,
    QueryLimits,
    UpstreamLimits,
    code_request_error,
)
from schema.mutation import Mutation
from schema.query import Query
from schema.subscription import Subscription

logger = logging.getLogger(__name__)


class MaskUnexpectedErrors(MaskErrors):
    """Hides unexpected errors behind `INTERNAL_SERVER_ERROR` (`SwitchboardSchema` logs them)."""

    def __init__(self) -> None:
        super().__init__(
            should_mask_error=self._should_mask, error_message="Internal server error."
        )

    @staticmethod
    def _should_mask(error: GraphQLError) -> bool:
        # graphql-core wraps why a variable does not fit its type (a GraphQLError) in the error
        # naming the variable: the client's mistake, not an unexpected exception.
        cause = error.original_error
        return is_unexpected(cause) and not isinstance(cause, GraphQLError)

    def on_operation(self) -> Iterator[None]:
        yield from super().on_operation()
        result = self.execution_context.result
        # Parse and validation errors (a `PreExecutionError`) get their codes from the transport.
        if result is not None and not isinstance(result, PreExecutionError):
            _code_request_errors(result.errors, executed=True)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        _code_request_errors(getattr(result, "errors", None), executed=False)
        yield from super().on_stream_result(result)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
        return masked


def _code_request_errors(errors: list[GraphQLError] | None, *, executed: bool) -> None:
    """Gives `BAD_USER_INPUT` to the errors of the request's variables: those graphql-core found
    before any resolver ran (no path). In an executed result that is each such error without a
    code (a value of the wrong type, a required variable missing, values nested too deeply); in
    a subscription's first result, only a coercion error is known to be one."""
    for error in errors or ():
        if error.path is not None or (error.extensions or {}).get("code") is not None:
            continue
        if executed or isinstance(error.original_error, GraphQLError):
            error.extensions = {**(error.extensions or {}), "code": ErrorCode.BAD_USER_INPUT.value}


class SwitchboardSchema(strawberry.Schema):
    """Logs an operation's errors by what they are. Strawberry logs every error at ERROR with a
    traceback, a refused token as much as a crash; here an unexpected exception is logged at
    ERROR with its traceback, and the client's own errors (every `SwitchboardError`, a syntax,
    validation or variable error) make one INFO line for the operation, without a traceback.

    Strawberry calls this for every result's errors before the extensions see them, also for
    an exception escaping an extension's hook (a database failure while authenticating), whose
    result no extension sees: such an error is masked here, in place."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        expected = []
        for error in errors:
            if not MaskUnexpectedErrors._should_mask(error):
                if error.path is None:
                    code_request_error(error)
                expected.append(error)
                continue
            logger.error(
                "unexpected error in %s", error.path or "the request", exc_info=error.original_error
            )
            if error.path is None:
                error.message = "Internal server error."
                error.original_error = None
                error.extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
        if expected:
            operation = execution_context.operation_name if execution_context else None
            logger.info(
                "operation %s answered with errors: %s",
                operation or "(anonymous)",
                "; ".join(
                    dict.fromkeys(
                        f"{(error.extensions or {}).get('code')} {error.message}"
                        for error in expected
                    )
                ),
            )


def build_schema(*, report_cost: bool = False, limits: Limits | None = None) -> strawberry.Schema:
    """The schema; `limits` (default: the settings' defaults) bound each operation's document and
    its UniPile calls."""
    limits = limits or Limits()
    extensions: list[Any] = [
        MaskUnexpectedErrors,
        Authenticate,
        PartialErrors,
        # The parser cache, with the token limit; aliases and depth are checked before the
        # validation cache validates.
        lambda: QueryLimits(limits, maxsize=256),
        lambda: ValidationCache(maxsize=256),
        lambda: UpstreamLimits(limits),
        QueriesOnly,
    ]
    if report_cost:
        extensions.append(CostReport)
    return SwitchboardSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=SwitchboardExecutionContext,
    )


schema = build_schema()

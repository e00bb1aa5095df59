"""Schema extensions: authentication, partial errors, and the cost report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from core.errors import ErrorCode
from db.metrics import count_queries
from unipile import count_requests


class Authenticate(SchemaExtension):
    """Verifies the token's user in the database before any resolver runs, so a deleted or
    disabled user is refused on every operation, whatever fields it asks for."""

    async def on_execute(self) -> AsyncIterator[None]:
        authenticate = getattr(self.execution_context.context, "authenticate", None)
        if authenticate is not None:
            await authenticate()
        yield


class PartialErrors(SchemaExtension):
    """Adds the errors resolvers recorded without failing their field (one account's upstream
    failure) to the response, next to the data."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        result = self.execution_context.result
        recorded = getattr(context, "partial_errors", None)
        if result is None or not recorded:
            return
        errors = [
            GraphQLError(str(error), original_error=error, extensions=error.extensions)
            for error in recorded
        ]
        result.errors = [*(result.errors or []), *errors]


class CostReport(SchemaExtension):
    """`extensions.cost`: the database queries and UniPile requests this operation made."""

    def on_operation(self) -> Iterator[None]:
        with ExitStack() as stack:
            self.queries = stack.enter_context(count_queries())
            self.requests = stack.enter_context(count_requests())
            yield

    def get_results(self) -> dict[str, Any]:
        return {"cost": {"dbQueries": self.queries.value, "upstreamRequests": self.requests.value}}


PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# graphql-core's own messages for variables it gave up coercing, which wrap no error of the value.
COERCION_ABORTED = ("Variable values are nested too deeply", "Too many errors processing variables")


def is_coercion_error(error: GraphQLError) -> bool:
    """Whether graphql-core reported `error` while coercing the request's variables, before any
    resolver ran: `Variable '$x' has invalid value: ...` wraps the value's own error (a
    `GraphQLError`, which no validation rule and no resolver error wraps), and coercion that gave
    up says so in its message."""
    if error.path is not None:
        return False
    return isinstance(error.original_error, GraphQLError) or (
        error.original_error is None and error.message.startswith(COERCION_ABORTED)
    )


def code_request_error(error: GraphQLError) -> GraphQLError:
    """Gives an error of the request itself, found before execution (the errors of a
    `PreExecutionError`, or those of a result that variable coercion stopped), its
    `extensions.code`: `GRAPHQL_PARSE_FAILED` for a syntax error, `BAD_USER_INPUT` for a
    variable whose value does not coerce to its type, `GRAPHQL_VALIDATION_FAILED` for one
    reported by a validation rule. An error that has a code already (a masked one) or that wraps
    any other exception keeps what it has. The HTTP and WebSocket transports both call this; it
    sets the code in place and returns the same error."""
    if (error.extensions or {}).get("code") is not None:
        return error
    if isinstance(error, GraphQLSyntaxError):
        code = PARSE_FAILED
    elif is_coercion_error(error):
        code = ErrorCode.BAD_USER_INPUT.value
    elif error.original_error is None:
        code = VALIDATION_FAILED
    else:
        return error
    error.extensions = {**(error.extensions or {}), "code": code}
    return error

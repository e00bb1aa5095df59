"""Schema extensions: authentication, partial errors, and the cost report."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

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

"""The GraphQL endpoint: Strawberry's ASGI view with Switchboard's context and JSON encoding."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import orjson
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UNSET, UnsetType
from strawberry.utils.aio import aclosing

from resolvers.context import Context
from schema.extensions import code_request_error
from server.auth import AuthenticationError, identity_from_header
from server.graphiql import graphiql_page
from server.state import app_state


class TextFrames(ASGIWebSocketAdapter):
    """Sends every WebSocket message as a text frame: Strawberry sends bytes from `encode_json` as
    binary frames, which JavaScript's `graphql-ws` (Apollo Client, urql) and Python's `gql`
    refuse."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(self.view.encode_json_string(message))
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


async def request_errors_as_results(results: StreamResult) -> StreamResult:
    """`results` (which it closes), where a request error raised instead of being the first result
    becomes that result, and the request errors of a first `PreExecutionError` get their codes.

    Strawberry's `ParserCache` parses in its `on_parse` hook, outside the `try` that turns a
    syntax error into a result: without this the error escapes the stream, and the socket gets a
    bare `complete` (graphql-transport-ws) or nothing at all (graphql-ws).
    """
    async with aclosing(results):
        try:
            first = await anext(results)
        except StopAsyncIteration:
            return
        except GraphQLError as error:
            first = PreExecutionError(data=None, errors=[error])
        if isinstance(first, PreExecutionError) and first.errors:
            first.errors = [code_request_error(error) for error in first.errors]
        yield first
        async for result in results:
            yield result


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, where a syntax or validation error is an `error` message for its
    operation (the protocol's "usually due to validation errors") and the socket stays open."""

    async def _send_result_stream(
        self, operation: Operation[Context, None], result_source: StreamResult
    ) -> None:
        async with aclosing(request_errors_as_results(result_source)) as results:
            await super()._send_result_stream(operation, results)

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # Strawberry closes the whole socket (4400) on a syntax error in one operation.
        if isinstance(error, GraphQLSyntaxError):
            return None
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol (subscriptions-transport-ws), whose clients (`gql`, Apollo's
    old `WebSocketLink`) send queries and mutations over the socket as well: any operation runs,
    and a request error is an `error` message. Strawberry's own handler runs subscriptions only
    and sends nothing when a syntax error escapes."""

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        try:
            source = await self.schema.stream(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context,
                root_value=self.root_value,
            )
            async with aclosing(request_errors_as_results(source)) as results:
                self.subscriptions[operation_id] = results
                first = True
                async for result in results:
                    if first and isinstance(result, PreExecutionError) and result.errors:
                        error = result.errors[0].formatted
                        await self.send_message(
                            {"type": "error", "id": operation_id, "payload": error}
                        )
                        return
                    # Incremental delivery (@defer, @stream) is not enabled on this schema.
                    assert isinstance(result, ExecutionResult)
                    await self.send_data_message(result, operation_id)
                    first = False
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            # Stopped by the client (or the socket closing), as Strawberry's own handler does.
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)


class GraphQLView(GraphQL[Context, None]):
    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = app_state(request)
        authorization = request.headers.get("authorization")
        try:
            identity = identity_from_header(authorization, state.signing_key)
        except AuthenticationError as problem:
            return Context(
                request=request, services=state.services, identity=None, auth_problem=str(problem)
            )
        return Context(request=request, services=state.services, identity=identity)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Subscriptions authenticate by `{"Authorization": "Bearer <token>"}` at connection."""
        assert context.request is not None, "a WebSocket always has its request"
        params = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        try:
            context.identity = identity_from_header(
                authorization if isinstance(authorization, str) else None,
                app_state(context.request).signing_key,
            )
        except AuthenticationError as problem:
            raise ConnectionRejectionError(
                {"message": str(problem), "code": "UNAUTHENTICATED"}
            ) from None
        await context.authenticate()
        if context.identity is None:
            raise ConnectionRejectionError(
                {"message": context.auth_problem, "code": "UNAUTHENTICATED"}
            )
        acknowledged: UnsetType = UNSET
        return acknowledged

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this server's own files, not Strawberry's CDN page (`server/graphiql/`),
        for a browser's `GET /graphql`."""
        return await graphiql_page(request)

    def encode_json(self, data: object) -> bytes:
        """HTTP bodies are orjson's bytes; `TextFrames` decodes them for WebSocket messages."""
        return orjson.dumps(data)

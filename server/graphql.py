"""The GraphQL endpoint: Strawberry's ASGI view with Switchboard's context and JSON encoding."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, GraphQLSyntaxError, OperationType, get_operation_ast, parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema import StreamResult
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.execution import ExecutionResult, PreExecutionError, StreamExecutionResult
from strawberry.types.unset import UNSET, UnsetType
from strawberry.utils.aio import aclosing

from access.tokens import TokenRefused
from core.errors import ErrorCode
from core.identity import Identity
from realtime.streams import SharedStreams
from resolvers.context import Context
from schema.extensions import code_request_error
from server.graphiql import graphiql_page
from server.kept_responses import variables_key
from server.observability.operations import observed_operation, observed_stream
from server.observability.requests import current_request
from server.state import app_state

if TYPE_CHECKING:
    from strawberry.http.async_base_view import AsyncBaseHTTPView
    from strawberry.schema import BaseSchema

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
JSON_WHITESPACE = b" \t\r\n"
# The code of a request refused before it is a GraphQL request (no mutation payload has it).
BAD_REQUEST = "BAD_REQUEST"


def response_media_type(accept: str | None) -> str:
    """The media type answering a request with this `Accept` header: the GraphQL-over-HTTP
    spec's `application/graphql-response+json` when the client accepts it at least as much as
    `application/json`, `application/json` otherwise (also for `*/*` and without `Accept`)."""
    graphql_response = json = 0.0
    for media_range in (accept or "").split(","):
        media, *parameters = (part.strip().lower() for part in media_range.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media == GRAPHQL_RESPONSE_JSON:
            graphql_response = max(graphql_response, quality)
        elif media in (JSON, "application/*", "*/*"):
            json = max(json, quality)
    return GRAPHQL_RESPONSE_JSON if graphql_response > 0 and graphql_response >= json else JSON


def not_executed(result: ExecutionResult) -> bool:
    """Whether the request failed before any resolver ran: parse, validation or variable errors
    (or a failure while preparing it), none of which has a path, and no data."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


class TextFrames(ASGIWebSocketAdapter):
    """Sends every WebSocket message as a text frame: Strawberry sends bytes from `encode_json` as
    binary frames, which JavaScript's `graphql-ws` (Apollo Client, urql) and Python's `gql`
    refuse."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        await self.send_encoded(self.view.encode_json_string(message))

    async def send_encoded(self, text: str) -> None:
        """Send a message already encoded (`SharedOperations`)."""
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as error:
            raise WebSocketDisconnected from error


# A subscription's document, operation and variables, and who runs it: what its results depend on.
SharedKey = tuple[Identity, str, str | None, bytes]
# Longer documents are not shared: parsing them here too would cost more than sharing saves.
SHARED_DOCUMENT_LENGTH = 20_000
SHARED_DOCUMENT_TOKENS = 2_000


@dataclass
class EncodedResult(ExecutionResult):
    """A subscription's result with its message payload (`data`, `errors`, `extensions`, as
    Strawberry's handlers build it) already encoded, once for every socket that shares it."""

    payload: str = ""


@lru_cache(maxsize=256)
def operation_type_of(
    query: str, operation_name: str | None, max_tokens: int
) -> OperationType | None:
    """The type of the document's operation; None for a document that does not parse or names
    no operation, which execution answers with its errors."""
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    return None if operation is None else operation.operation


def is_subscription(query: str, operation_name: str | None) -> bool:
    """Whether the document's operation is a subscription to share; False for a document that
    does not parse, which the unshared path answers with its errors."""
    return (
        len(query) <= SHARED_DOCUMENT_LENGTH
        and operation_type_of(query, operation_name, SHARED_DOCUMENT_TOKENS)
        is OperationType.SUBSCRIPTION
    )


class SharedOperations:
    """Subscriptions executed once per event for all the sockets of a process that run the same
    operation as the same viewer, each socket sending the one encoded result under its own
    operation id (`realtime.streams`). A result depends only on the document, its operation and
    variables, and the viewer's identity (resolvers read nothing else of the socket's context),
    so each socket receives the bytes it would have computed alone, and never another viewer's.
    Queries and mutations are not shared."""

    _streams: weakref.WeakKeyDictionary[object, SharedStreams[SharedKey, StreamExecutionResult]] = (
        weakref.WeakKeyDictionary()
    )

    @classmethod
    def streams_of(cls, view: object) -> SharedStreams[SharedKey, StreamExecutionResult]:
        """The view's shared streams: one set per app."""
        streams = cls._streams.get(view)
        if streams is None:
            streams = cls._streams[view] = SharedStreams()
        return streams

    @staticmethod
    def key(
        context: Context,
        query: str,
        operation_name: str | None,
        variables: Mapping[str, object] | None,
    ) -> SharedKey | None:
        """What the operation's results depend on, or None when it is not to be shared."""
        if context.identity is None or not isinstance(query, str):
            return None
        if not isinstance(operation_name, str | None) or not is_subscription(query, operation_name):
            return None
        encoded = variables_key(variables)
        if encoded is None:
            return None
        return (context.identity, query, operation_name, encoded)

    @classmethod
    def join(
        cls,
        view: AsyncBaseHTTPView[Any, Any, Any, Any, Any, Context, None],
        schema: BaseSchema,
        context: Context,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> AbstractAsyncContextManager[StreamResult] | None:
        """The operation's results, shared with the sockets that run the same one as the same
        viewer, while the block runs; None when it is not to be shared."""
        key = cls.key(context, query, operation_name, variables)
        if key is None:
            return None
        source = partial(
            cls._encoded_results,
            schema,
            view.encode_json_string,
            context,
            query,
            operation_name,
            variables,
        )
        return _member_results(cls.streams_of(view), key, source)

    @staticmethod
    async def _encoded_results(
        schema: BaseSchema,
        encode: Callable[[object], str],
        context: Context,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> StreamResult:
        """The operation's results, run as its viewer, each with its payload encoded."""
        source = await schema.stream(
            query,
            variable_values=variables,
            context_value=context.fresh(),
            root_value=None,
            operation_name=operation_name,
        )
        async with aclosing(request_errors_as_results(source)) as results:
            async for result in results:
                if isinstance(result, PreExecutionError) or not isinstance(result, ExecutionResult):
                    yield result
                    continue
                payload: dict[str, object] = {"data": result.data}
                if result.errors:
                    payload["errors"] = [error.formatted for error in result.errors]
                if result.extensions:
                    payload["extensions"] = result.extensions
                yield EncodedResult(
                    result.data, result.errors, result.extensions, payload=encode(payload)
                )


@asynccontextmanager
async def _member_results(
    streams: SharedStreams[SharedKey, StreamExecutionResult],
    key: SharedKey,
    source: Callable[[], AsyncIterator[StreamExecutionResult]],
) -> AsyncIterator[StreamResult]:
    async with streams.join(key, source) as member:
        results = _generated(member)
        async with aclosing(results):
            yield results


async def _generated(
    items: AsyncIterator[StreamExecutionResult],
) -> StreamResult:
    # What `observed_stream` takes: an async generator.
    async for item in items:
        yield item


def encoded_message(start: str, payload: str) -> str:
    """A message whose last member is `payload`, encoded: `start` is the message's encoding up
    to and including that member's name and colon."""
    return f"{start}{payload}}}"


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
        shared = SharedOperations.join(
            self.view,
            self.schema,
            self.context,
            operation.query,
            operation.operation_name,
            operation.variables,
        )
        if shared is None:
            await self._send_results(operation, request_errors_as_results(result_source))
            return
        async with shared as results:
            await self._send_results(operation, results)

    async def _send_results(
        self, operation: Operation[Context, None], results: StreamResult
    ) -> None:
        """Strawberry's loop, observed, sending a shared result's encoding as it is."""
        observed = observed_stream(operation.operation_name, self.context, results)
        async with aclosing(observed) as observed_results:
            first = True
            async for result in observed_results:
                if first and isinstance(result, PreExecutionError):
                    await self._handle_pre_execution_error(operation, result)
                    return
                if not isinstance(result, ExecutionResult):
                    await self._reject_incremental_delivery(operation)
                    return
                if isinstance(result, EncodedResult):
                    await self._send_encoded(operation, result)
                else:
                    await operation.send_next(result)
                first = False

    async def _send_encoded(
        self, operation: Operation[Context, None], result: EncodedResult
    ) -> None:
        # As `Operation.send_next` sends it: {"id": ..., "type": "next", "payload": ...}.
        if operation.completed:
            return
        assert isinstance(self.websocket, TextFrames)
        start = f'{{"id":{self.view.encode_json_string(operation.id)},"type":"next","payload":'
        await self.websocket.send_encoded(encoded_message(start, result.payload))

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
            shared = SharedOperations.join(
                self.view, self.schema, self.context, query, operation_name, variables
            )
            if shared is None:
                source = await self.schema.stream(
                    query=query,
                    variable_values=variables,
                    operation_name=operation_name,
                    context_value=self.context,
                    root_value=self.root_value,
                )
                ended = await self._send_results(
                    operation_id, operation_name, request_errors_as_results(source)
                )
            else:
                async with shared as results:
                    ended = await self._send_results(operation_id, operation_name, results)
            if ended:
                await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            # Stopped by the client (or the socket closing), as Strawberry's own handler does.
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)

    async def _send_results(
        self, operation_id: str, operation_name: str | None, results: StreamResult
    ) -> bool:
        """Send the operation's results; False when it failed before execution (its `error`
        message sent, no `complete` follows)."""
        observed = observed_stream(operation_name, self.context, results)
        async with aclosing(observed) as observed_results:
            self.subscriptions[operation_id] = observed_results
            first = True
            async for result in observed_results:
                if first and isinstance(result, PreExecutionError) and result.errors:
                    error = result.errors[0].formatted
                    await self.send_message({"type": "error", "id": operation_id, "payload": error})
                    return False
                # Incremental delivery (@defer, @stream) is not enabled on this schema.
                assert isinstance(result, ExecutionResult)
                if isinstance(result, EncodedResult):
                    await self._send_encoded(operation_id, result)
                else:
                    await self.send_data_message(result, operation_id)
                first = False
        return True

    async def _send_encoded(self, operation_id: str, result: EncodedResult) -> None:
        # As `send_data_message` sends it: {"type": "data", "id": ..., "payload": ...}.
        assert isinstance(self.websocket, TextFrames)
        start = f'{{"type":"data","id":{self.view.encode_json_string(operation_id)},"payload":'
        await self.websocket.send_encoded(encoded_message(start, result.payload))


SUBSCRIPTIONS_OVER_WEBSOCKET = (
    "Subscriptions are served over the WebSocket at /graphql (graphql-transport-ws or "
    "graphql-ws), not over plain HTTP"
)


def asks_for_subscription(request: GraphQLRequestData, max_tokens: int) -> bool:
    """Whether a plain HTTP request asks for a subscription: Strawberry takes subscriptions over
    HTTP only for its multipart protocol and would execute this one as a query, failing with an
    internal error."""
    query = request.query
    return (
        isinstance(query, str)
        and "subscription" in query
        and operation_type_of(query, request.operation_name, max_tokens)
        is OperationType.SUBSCRIPTION
    )


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
            identity = await state.authenticator.identity(authorization)
        except TokenRefused as problem:
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
            context.identity = await app_state(context.request).authenticator.identity(
                authorization if isinstance(authorization, str) else None
            )
        except TokenRefused as problem:
            raise ConnectionRejectionError(
                {"message": str(problem), "code": "UNAUTHENTICATED"}
            ) from None
        await context.authenticate()
        if context.identity is None:
            raise ConnectionRejectionError(
                {"message": context.auth_problem, "code": "UNAUTHENTICATED"}
            )
        if (request := current_request()) is not None:
            request.viewer_is(context.identity)
        acknowledged: UnsetType = UNSET
        return acknowledged

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Strawberry's, with the operation's name, outcome and duration observed, and its
        answer kept and given again while current (`server.kept_responses`)."""
        state = app_state(request)
        with observed_operation(request_data.operation_name, context, state.tracing) as observed:
            if request_data.protocol == "http" and asks_for_subscription(
                request_data, state.settings.max_query_tokens
            ):
                raise HTTPException(400, SUBSCRIPTIONS_OVER_WEBSOCKET)
            result = await state.kept_responses.answer(
                context,
                request_data,
                lambda: super(GraphQLView, self).execute_single(
                    request, request_adapter, sub_response, context, root_value, request_data
                ),
            )
            for error in result.errors or ():
                if error.path is None:
                    code_request_error(error)
            observed.result = result
        return result

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this server's own files, not Strawberry's CDN page (`server/graphiql/`),
        for a browser's `GET /graphql`."""
        return await graphiql_page(request)

    def encode_json(self, data: object) -> bytes:
        """HTTP bodies are orjson's bytes; `TextFrames` decodes them for WebSocket messages."""
        return orjson.dumps(data)

    # GraphQL over HTTP: https://graphql.github.io/graphql-over-http/draft/. A client accepting
    # `application/graphql-response+json` gets it, and a request that fails before execution
    # gets a 4xx status and no `data`; with `application/json` every GraphQL response is a 200.

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's, but a request refused before execution (a body that is not a JSON
        object, no query, a mutation over GET...) gets a GraphQL-shaped JSON error, not text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as error:
            response = self.refusal(request, error)
        await response(scope, receive, send)

    def refusal(self, request: Request, error: HTTPException) -> Response:
        status, headers = error.status_code, {}
        if request.method == "GET" and isinstance(error.__cause__, InvalidOperationTypeError):
            # The spec's 405 for a mutation over GET, which is only for queries.
            status, headers = 405, {"Allow": "POST"}
        body = {"errors": [{"message": error.reason, "extensions": {"code": BAD_REQUEST}}]}
        media_type = response_media_type(request.headers.get("accept"))
        return Response(
            self.encode_json(body), status_code=status, headers=headers, media_type=media_type
        )

    def parse_json(self, data: str | bytes) -> object:
        """A request's JSON, which must be UTF-8 (Python's own `json` would take UTF-16 too)."""
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise HTTPException(400, "The request body is not UTF-8") from None
        try:
            return super().parse_json(data)
        except RecursionError:
            raise HTTPException(400, "The request body is nested too deeply") from None
        except ValueError:
            # Python's JSON refuses integers of more than 4,300 digits with a plain ValueError.
            raise HTTPException(400, "The request holds a number too long to read") from None

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's, refusing a JSON body that is not an object (Strawberry fails with a 500
        on `null`, `"x"` or `5`; a list is its batch, which is off) and an `operationName` that
        is not a string."""
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            body = await request.get_body()
            if body.lstrip(JSON_WHITESPACE)[:1] not in (b"{", b"["):
                raise HTTPException(400, "The request body must be a JSON object")
        data = await super().parse_http_body(request)
        for operation in data if isinstance(data, list) else [data]:
            if not isinstance(operation.operation_name, str | None):
                raise HTTPException(
                    400, "The GraphQL operation's `operationName` must be a string or null."
                )
        return data

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """Carries the response's media type, read from `Accept`, to `create_response`."""
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Every request error gets its code (`code_request_error`); with
        `application/graphql-response+json`, a request that failed before execution has no
        `data`."""
        for error in result.errors or ():
            if error.path is None:
                code_request_error(error)
        response = await super().process_result(request, result)
        accepted = response_media_type(request.headers.get("accept"))
        if accepted == GRAPHQL_RESPONSE_JSON and not_executed(result):
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """With `application/graphql-response+json`, a response without `data` is a 400 (a 500
        when what failed is the server); with `application/json`, a 200 as before."""
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type != GRAPHQL_RESPONSE_JSON:
            return response
        response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
        if isinstance(response_data, dict) and "data" not in response_data:
            codes = {
                error.get("extensions", {}).get("code")
                for error in response_data.get("errors") or ()
                if isinstance(error, dict)
            }
            if not sub_response.status_code:
                response.status_code = (
                    500 if ErrorCode.INTERNAL_SERVER_ERROR.value in codes else 400
                )
        return response

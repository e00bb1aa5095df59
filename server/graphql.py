"""The GraphQL endpoint: Strawberry's ASGI view with Switchboard's context and JSON encoding."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from resolvers.context import Context
from server.auth import AuthenticationError, identity_from_header
from server.state import app_state


class GraphQLView(GraphQL[Context, None]):
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

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

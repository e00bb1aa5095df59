"""The GraphQL endpoint: Strawberry's ASGI view with Switchboard's context and JSON encoding."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

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

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

"""The context every resolver receives: who asks, and the services and loaders of the request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from server.auth import Identity
from schema.errors import Unauthenticated

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from unipile import UnipileClient


@dataclass(slots=True)
class Services:
    """Long-lived collaborators, built once by the app's lifespan."""

    unipile: UnipileClient


@dataclass(slots=True)
class Context:
    request: Request | WebSocket
    services: Services
    identity: Identity | None
    auth_problem: str = "authentication required"

    def viewer(self) -> Identity:
        if self.identity is None:
            raise Unauthenticated(self.auth_problem)
        return self.identity

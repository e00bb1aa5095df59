"""What the app's lifespan builds and every request reads."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from access.authentication import Authenticator
from resolvers.context import Services
from server.settings import Settings


@dataclass(slots=True)
class AppState:
    settings: Settings
    services: Services
    signing_key: str
    authenticator: Authenticator


def app_state(connection: HTTPConnection) -> AppState:
    state: AppState = connection.app.state.switchboard
    return state

"""What the app's lifespan builds and every request reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from access.authentication import Authenticator
from resolvers.context import Services
from server.kept_responses import KeptResponses
from server.settings import Settings

if TYPE_CHECKING:
    from server.observability.traces import Tracing


@dataclass(slots=True)
class AppState:
    settings: Settings
    services: Services
    signing_key: str
    authenticator: Authenticator
    tracing: Tracing | None
    """None unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set."""
    kept_responses: KeptResponses


def app_state(connection: HTTPConnection) -> AppState:
    state: AppState = connection.app.state.switchboard
    return state

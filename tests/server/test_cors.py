"""Browsers on the listed origins (`CORS_ORIGINS`) may call the API over HTTP and open its
WebSocket; pages on other origins get no CORS headers, and their WebSocket handshake gets 403."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from access.tokens import issue_token
from core.identity import Identity
from db.models import User, Workspace
from server.app import create_app
from server.settings import Settings
from tests.graphql_ws import LEGACY_WS, TRANSPORT_WS, connect, receive_json, start, subscribe
from unipile.sandbox.testing import running_app

KEY = "cors-test-signing-key-0123456789-abcdefgh"
LISTED = "http://localhost:5173"
ALSO_LISTED = "https://crm.example.com"
UNLISTED = "http://localhost:5174"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}
VIEWER = "{ viewer { user { email } } }"


@pytest.fixture
async def token(sqlite_database: str) -> str:
    workspace = await Workspace.create(name="Acme", slug="acme")
    user = await User.create(workspace=workspace, email="alice@acme.test", name="Alice")
    return issue_token(Identity(user.id, workspace.id), KEY, timedelta(hours=1))


@pytest.fixture
def server(sqlite_database: str, token: str, tmp_path: Path) -> Iterator[str]:
    settings = Settings.from_environ(
        {
            "DATABASE_URL": sqlite_database,
            "JWT_SECRET": KEY,
            "DATA_DIR": str(tmp_path),
            "UNIPILE_DSN": "http://127.0.0.1:9",
            "UNIPILE_API_KEY": "unused",
            "CORS_ORIGINS": f"{LISTED}, {ALSO_LISTED}",
        },
        env_file=None,
    )
    with running_app(create_app(settings)) as url:
        yield url


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


async def test_a_preflight_from_a_listed_origin_passes(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.options("/graphql", headers={"Origin": LISTED, **PREFLIGHT})
    assert response.status_code == 200
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == LISTED
    assert headers["access-control-allow-credentials"] == "true"
    assert set(headers["access-control-allow-methods"].split(", ")) == {"GET", "POST", "OPTIONS"}
    allowed = {name.strip().lower() for name in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize("origin", [LISTED, ALSO_LISTED])
async def test_a_post_from_a_listed_origin_may_be_read(
    server: str, token: str, origin: str
) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"Origin": origin, "Authorization": f"Bearer {token}"},
        )
    assert response.json() == {"data": {"viewer": {"user": {"email": "alice@acme.test"}}}}
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in response.headers["vary"]


async def test_an_unlisted_origin_gets_no_cors_headers(server: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        preflight = await client.options("/graphql", headers={"Origin": UNLISTED, **PREFLIGHT})
        post = await client.post(
            "/graphql",
            json={"query": VIEWER},
            headers={"Origin": UNLISTED, "Authorization": f"Bearer {token}"},
        )
    assert preflight.status_code == 400
    assert cors_headers(preflight) == {}
    # The server answers (a browser would not let the page read it), with no allow header.
    assert post.status_code == 200
    assert cors_headers(post) == {}
    assert "Origin" in post.headers["vary"]


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_websocket_from_a_listed_origin_opens_a_subscription(
    server: str, token: str, protocol: str
) -> None:
    async with subscribe(
        server,
        token,
        "subscription { accountStatusChanged { externalId status } }",
        protocol=protocol,
        origin=LISTED,
    ) as live:
        assert await live.nothing_within(0.3)  # listening: no error, no completion
        await start(live.socket, protocol, "2", VIEWER)
        result = await receive_json(live.socket)
    assert result["payload"]["data"] == {"viewer": {"user": {"email": "alice@acme.test"}}}


async def test_a_websocket_from_an_unlisted_origin_is_refused(server: str, token: str) -> None:
    url = server.replace("http://", "ws://") + "/graphql"
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(
            url,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            origin=UNLISTED,  # type: ignore[arg-type]
        ):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(None, id="no origin: not a browser"),
        pytest.param("same", id="the server's own origin"),
    ],
)
async def test_websockets_without_a_cross_origin_are_always_allowed(
    server: str, token: str, origin: str | None
) -> None:
    async with connect(server, token, origin=server if origin == "same" else None) as socket:
        await start(socket, TRANSPORT_WS, "1", VIEWER)
        result = await receive_json(socket)
    assert result["payload"]["data"] == {"viewer": {"user": {"email": "alice@acme.test"}}}

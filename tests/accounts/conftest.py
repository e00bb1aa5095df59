"""The served app over a sandbox, reachable by the sandbox's hosted-auth callback: `PUBLIC_URL` is
the app's own address, so the `notify_url` of its links comes back to it over HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from access.tokens import issue_token
from core.identity import Identity
from core.vocabulary import Role
from db.models import User, Workspace
from server.app import create_app
from server.hosted_auth import HOSTED_AUTH_PATH
from tests.inbox.conftest import (  # noqa: F401 (fixtures)
    SIGNING_KEY,
    Inbox,
    demo_tokens,
    inbox_settings,
    sandbox_url,
)

CONNECT = """mutation($input: ConnectAccountInput!) {
  connectAccount(input: $input) { url expiresAt error { code message field } } }"""
ACCOUNTS = "{ accounts { id externalId channel provider name status shared isMine } }"


@contextmanager
def serving(app: Starlette, port: int) -> Iterator[str]:
    """`app` served by uvicorn on `port`, chosen before it was built (its PUBLIC_URL names it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                assert thread.is_alive(), "the server failed to start"
                threading.Event().wait(0.01)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Connected(Inbox):
    """The served app, with helpers to connect accounts through the sandbox's hosted auth."""

    async def connect(self, provider: str, user: str = "alice") -> dict[str, Any]:
        """Connects through connectAccount and the sandbox page; the account, once attached."""
        before = {account["externalId"] for account in await self.accounts(user)}
        result = await self.query(CONNECT, {"input": {"providers": [provider]}}, user)
        link = result["data"]["connectAccount"]
        assert link["error"] is None, link
        async with httpx.AsyncClient(timeout=30) as client:
            page = await client.post(link["url"], json={"provider": provider})
        assert page.status_code == 200, page.text
        unipile_id = page.json()["account_id"]
        assert unipile_id not in before
        return await self.wait_for_account(unipile_id, user)

    async def accounts(self, user: str = "alice") -> list[dict[str, Any]]:
        accounts: list[dict[str, Any]] = (await self.query(ACCOUNTS, user=user))["data"]["accounts"]
        return accounts

    async def wait_for_account(self, unipile_id: str, user: str = "alice") -> dict[str, Any]:
        for _ in range(200):
            found = [a for a in await self.accounts(user) if a["externalId"] == unipile_id]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{unipile_id} was never attached")

    async def callback(self, body: object) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            # json.dumps escapes what httpx cannot encode (a lone surrogate), as a sender may.
            return await client.post(
                HOSTED_AUTH_PATH,
                content=json.dumps(body),
                headers={"Content-Type": "application/json"},
            )


async def second_workspace_token() -> str:
    """An admin of another workspace, who must see nothing of the demo's."""
    workspace = await Workspace.create(name="Other", slug="other")
    user = await User.create(
        workspace=workspace, email="eve@other.test", name="Eve", role=Role.ADMIN
    )
    return issue_token(Identity(user.id, workspace.id), SIGNING_KEY, timedelta(hours=1))


@pytest.fixture
async def connected(
    request: pytest.FixtureRequest,
    database: str,
    demo_tokens: dict[str, str],  # noqa: F811
    sandbox_url: str,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[Connected]:
    """The served app; a test may ask for the live cache's freshness in seconds by indirect
    parametrisation (0 by default: every read goes to UniPile)."""
    port = free_port()
    freshness = str(getattr(request, "param", 0))
    settings = inbox_settings(
        database,
        tmp_path,
        sandbox_url,
        {"PUBLIC_URL": f"http://127.0.0.1:{port}", "LIVE_CACHE_SECONDS": freshness},
    )
    app = create_app(settings)
    tokens = {**demo_tokens, "eve": await second_workspace_token()}
    with serving(app, port) as url:
        yield Connected(url=url, sandbox=sandbox_url, tokens=tokens)

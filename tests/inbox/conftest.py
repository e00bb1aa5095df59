"""A served Switchboard over the sandbox's demo data, with the demo CRM loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from access.tokens import issue_token
from core.identity import Identity
from db.models import User
from server.app import create_app
from server.demo import DEMO_USERS, load_demo
from server.settings import Settings
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

SIGNING_KEY = "inbox-test-signing-key-0123456789abcdef"
SANDBOX_KEY = "inbox-test-sandbox-key"
WEBHOOK_SECRET = "inbox-test-webhook-secret-0123456789"


@dataclass(frozen=True)
class Inbox:
    url: str
    sandbox: str
    tokens: dict[str, str]
    # Whether the server keeps answers to give again (`server.kept_responses`).
    keeps_answers: bool = False

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, user: str = "alice"
    ) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.tokens[user]}"},
            )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def sandbox_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.sandbox, timeout=30) as client:
            return await client.post(path, json=body)

    async def upstream_stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.sandbox) as client:
            stats: dict[str, Any] = (await client.get("/_sandbox/stats")).json()
            await client.post("/_sandbox/stats/reset")
        return stats


def server_environment(
    database_url: str, sandbox_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A test server's variables over the sandbox; `extra` changes or adds variables.

    These tests change the sandbox behind the server's back (posted messages without webhooks,
    injected faults), so each read asks UniPile (`LIVE_CACHE_SECONDS=0`); the live cache's own
    tests serve it with its default freshness and change the sandbox through webhooks."""
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET": SIGNING_KEY,
        "UNIPILE_DSN": sandbox_url,
        "UNIPILE_API_KEY": SANDBOX_KEY,
        "SWITCHBOARD_REPORT_COST": "1",
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LIVE_CACHE_SECONDS": "0",
        **(extra or {}),
    }


def inbox_settings(
    database_url: str, data_dir: Path, sandbox_url: str, extra: Mapping[str, str] | None = None
) -> Settings:
    """The served app's settings over the sandbox (`server_environment`)."""
    environment = server_environment(database_url, sandbox_url, extra)
    return Settings.from_environ({"DATA_DIR": str(data_dir), **environment}, env_file=None)


async def issue_demo_tokens() -> dict[str, str]:
    """Loads the demo and signs a token for each of its users."""
    await load_demo(7)
    tokens = {}
    for name, (email, _) in DEMO_USERS.items():
        user = await User.get(email=email)
        tokens[name] = issue_token(
            Identity(user.id, user.workspace_id), SIGNING_KEY, timedelta(hours=1)
        )
    return tokens


@pytest.fixture
async def demo_tokens(database: str) -> dict[str, str]:
    return await issue_demo_tokens()


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as url:
        yield url


@pytest.fixture
async def inbox(
    database: str, demo_tokens: dict[str, str], sandbox_url: str, tmp_path: Path
) -> AsyncIterator[Inbox]:
    app = create_app(inbox_settings(database, tmp_path, sandbox_url))
    with running_app(app) as url:
        yield Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)

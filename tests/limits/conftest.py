"""A served Switchboard over the sandbox's demo data, with the limits of the test's choosing.

A test module (or a parametrized test) overrides the `environ` fixture to change settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.vocabulary import Channel, StoragePolicy
from db.models import StoragePolicySetting, Workspace
from server.app import create_app
from tests.inbox.conftest import (
    SANDBOX_KEY,
    inbox_settings,
    issue_demo_tokens,
)
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

GMAIL, OUTLOOK, LINKEDIN = (
    "acc_gmail_demo_000001",
    "acc_outlook_demo_00001",
    "acc_linkedin_demo_0001",
)
ALICE_ACCOUNTS = (GMAIL, OUTLOOK, LINKEDIN)


@dataclass(frozen=True)
class Served:
    url: str
    sandbox: str
    tokens: dict[str, str]

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, user: str | None = "alice"
    ) -> httpx.Response:
        headers = {} if user is None else {"Authorization": f"Bearer {self.tokens[user]}"}
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            return await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, user: str | None = "alice"
    ) -> dict[str, Any]:
        """The response's JSON, whatever its status: another part of the server decides which
        status a request error gets."""
        result: dict[str, Any] = (await self.post(query, variables, user)).json()
        return result

    async def faults(self, **faults: Any) -> None:
        async with httpx.AsyncClient(base_url=self.sandbox) as client:
            (await client.post("/_sandbox/faults", json=faults)).raise_for_status()

    async def upstream_stats(self) -> dict[str, Any]:
        """The sandbox's request counts since the last call (reset after reading)."""
        async with httpx.AsyncClient(base_url=self.sandbox) as client:
            stats: dict[str, Any] = (await client.get("/_sandbox/stats")).json()
            await client.post("/_sandbox/stats/reset")
        return stats


@pytest.fixture
def environ() -> dict[str, str]:
    """Settings of the served app beyond the fixture's own; override to change limits."""
    return {}


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as url:
        yield url


async def demo_tokens() -> dict[str, str]:
    """Loads the demo, with email stored by hand only: the storage jobs an inbox read would
    queue call UniPile too, and these tests count the calls."""
    tokens = await issue_demo_tokens()
    workspace = await Workspace.get(slug="demo")
    await StoragePolicySetting.create(
        workspace=workspace, channel=Channel.EMAIL, policy=StoragePolicy.MANUAL
    )
    return tokens


@pytest.fixture
async def served(
    sqlite_database: str, sandbox_url: str, tmp_path: Path, environ: dict[str, str]
) -> AsyncIterator[Served]:
    """The app over the sandbox with the demo loaded, on SQLite: what these tests pin does not
    depend on the database."""
    tokens = await demo_tokens()
    app = create_app(inbox_settings(sqlite_database, tmp_path, sandbox_url, environ))
    with running_app(app) as url:
        yield Served(url=url, sandbox=sandbox_url, tokens=tokens)


@pytest.fixture
async def served_on_each_database(
    database: str, sandbox_url: str, tmp_path: Path, environ: dict[str, str]
) -> AsyncIterator[Served]:
    """The same, once on SQLite and once on PostgreSQL."""
    tokens = await demo_tokens()
    app = create_app(inbox_settings(database, tmp_path, sandbox_url, environ))
    with running_app(app) as url:
        yield Served(url=url, sandbox=sandbox_url, tokens=tokens)

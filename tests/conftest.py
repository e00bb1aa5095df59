"""Fixtures shared by the whole suite: real databases, migrated once per session.

`database` runs a test once on SQLite and once on PostgreSQL. PostgreSQL is found at
`TEST_POSTGRES_URL` (default: the local server's `test` database); each run creates a database of
its own beside that one and drops it at the end, so that two runs at once do not meet. When the
server is unreachable the PostgreSQL tests skip, except with `CI=true`, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext

from db.config import tortoise_config
from db.metrics import QueryCounter, count_queries
from db.migrate import apply_migrations

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
# The demo's day (`unipile.sandbox.demo.ANCHOR_VARIABLE`) for this process and every process the
# run starts, a run that crosses midnight included; set before any test module imports the demo.
os.environ.setdefault("SANDBOX_ANCHOR", datetime.now(UTC).date().isoformat())
TABLES = (
    "storage_sweep",
    "storage_audit",
    "storage_rule",
    "own_domain",
    "hosted_auth_link",
    "store_job",
    "outbound_message",
    "webhook_receipt",
    "never_store",
    "storage_policy",
    "conversation_link",
    "message",
    "conversation_participant",
    "conversation",
    "contact_identifier",
    "contact",
    "company_domain",
    "company",
    "account",
    '"user"',
    "workspace",
)


def run_in_fresh_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run set-up work on its own loop, also from inside a running test loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def require_service(name: str, reason: str) -> None:
    """Skip, or fail under CI, a test whose service is missing."""
    message = f"{name} unavailable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)")
    pytest.skip(message)


def _run_database_url(server_url: str) -> str:
    """A database name of this run's own, on the server of `server_url`."""
    base, _, name = server_url.rpartition("/")
    return f"{base}/{name}_run_{os.getpid()}_{secrets.token_hex(4)}"


async def _on_server(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(
        server_url.replace("postgres://", "postgresql://", 1), timeout=5
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _database_name(url: str) -> str:
    return url.rpartition("/")[2]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    run_in_fresh_loop(apply_migrations(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str | None]:
    url = _run_database_url(POSTGRES_URL)
    try:
        run_in_fresh_loop(_on_server(POSTGRES_URL, f'CREATE DATABASE "{_database_name(url)}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        yield None
        return
    try:
        run_in_fresh_loop(apply_migrations(url))
        yield url
    finally:
        drop = f'DROP DATABASE IF EXISTS "{_database_name(url)}" WITH (FORCE)'
        run_in_fresh_loop(_on_server(POSTGRES_URL, drop))


async def _truncate_postgres() -> None:
    await get_connection("default").execute_script(
        f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"
    )


async def _open(url: str) -> AsyncIterator[None]:
    # Tortoise caches SQL per connection name, not per dialect; both backends use "default".
    EXECUTOR_CACHE.clear()
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(url))
        yield


@pytest.fixture(params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[str]:
    """An initialised, migrated, empty database; the test runs on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(sqlite_template, path)
        url = f"sqlite://{path}"
    else:
        migrated = request.getfixturevalue("postgres_migrated")
        if migrated is None:
            require_service("PostgreSQL", f"cannot connect to {POSTGRES_URL}")
        url = migrated
    async for _ in _open(url):
        if request.param == "postgres":
            await _truncate_postgres()
        yield url


@pytest.fixture
async def sqlite_database(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated SQLite database, for tests whose subject does not depend on the backend."""
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite://{path}"
    async for _ in _open(url):
        yield url


@pytest.fixture
def query_counter() -> Iterator[QueryCounter]:
    with count_queries() as counter:
        yield counter


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        require_service("Redis", f"cannot reach {REDIS_URL}: {error}")
    finally:
        client.close()
    return REDIS_URL

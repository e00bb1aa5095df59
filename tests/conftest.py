"""Fixtures shared by the whole suite: real databases, migrated once per session.

`database` runs a test once on SQLite and once on PostgreSQL. PostgreSQL is found at
`TEST_POSTGRES_URL` (default: the local `test` database); when it is unreachable its tests skip,
except with `CI=true`, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
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
TABLES = (
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


async def _reset_postgres(url: str) -> None:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1), timeout=5)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    run_in_fresh_loop(apply_migrations(f"sqlite://{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str | None]:
    try:
        run_in_fresh_loop(_reset_postgres(POSTGRES_URL))
    except (OSError, asyncpg.PostgresError, TimeoutError):
        yield None
        return
    run_in_fresh_loop(apply_migrations(POSTGRES_URL))
    yield POSTGRES_URL


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

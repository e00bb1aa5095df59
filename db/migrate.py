"""Applying and checking the migrations in `db/migrations`."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate
from tortoise.migrations.executor import MigrationExecutor

from db.config import tortoise_config


async def apply_migrations(database_url: str) -> None:
    """Bring the database at `database_url` up to date, then release its connections."""
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


async def pending_migrations() -> list[str]:
    """The migrations not yet applied to the initialised default connection."""
    apps = tortoise_config("unused")["apps"]
    executor = MigrationExecutor(get_connection("default"), apps)
    steps = await executor.plan(None)
    return [
        f"{step.migration.app_label}.{step.migration.name}" for step in steps if not step.backward
    ]

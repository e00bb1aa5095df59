"""What every `switchboard` command shares: its one-line failure and its database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from tortoise import Tortoise
from tortoise.connection import get_connection

from db.config import tortoise_config
from db.migrate import pending_migrations
from server.settings import Settings

MIGRATE_FIRST = "run `switchboard migrate` first"


class CommandError(Exception):
    """A command cannot do what was asked; its message is the one line the user sees."""


async def with_database(settings: Settings, work: Callable[[], Awaitable[None]]) -> None:
    """Runs `work` on the database, which must exist and have every migration applied."""
    database_file = sqlite_file(settings.database_url)
    if database_file is not None and not database_file.is_file():
        # Checked first: SQLite would create an empty file, or hang in a missing folder.
        raise CommandError(f"there is no database at {database_file} yet: {MIGRATE_FIRST}")
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        await require_migrated()
        await work()
    finally:
        await Tortoise.close_connections()


def sqlite_file(database_url: str) -> Path | None:
    """The file of a `sqlite://PATH` database; None for another backend or `:memory:`."""
    if not database_url.startswith("sqlite://"):
        return None
    path = database_url.removeprefix("sqlite://").partition("?")[0]
    return None if path == ":memory:" else Path(path)


async def require_migrated() -> None:
    """Stops the command, in one line, when the database cannot be read or lacks migrations
    (Tortoise reads an unreachable database as one with every migration pending)."""
    try:
        await get_connection("default").execute_query("SELECT 1")
        pending = await pending_migrations()
    except Exception as error:  # whatever stops the database answering: the command cannot run
        raise CommandError(f"cannot read the database: {error or type(error).__name__}") from None
    if pending:
        raise CommandError(
            f"the database has {len(pending)} pending migration(s), from {pending[0]}: "
            f"{MIGRATE_FIRST}"
        )

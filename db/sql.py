"""Hand-written SQL helpers, for the few reads that need a UNION to stay at one query, and what
differs between the dialects."""

from __future__ import annotations

from tortoise.connection import get_connection


def placeholders(start: int, count: int) -> list[str]:
    """Bind markers for the default connection's dialect: `$n` on PostgreSQL, `?` elsewhere."""
    if get_connection("default").capabilities.dialect == "postgres":
        return [f"${index}" for index in range(start, start + count)]
    return ["?"] * count


def errors_abort_transactions() -> bool:
    """Whether a failed statement aborts the whole transaction it is in (PostgreSQL), so that a
    statement expected to fail needs a savepoint of its own; SQLite undoes only the statement."""
    return get_connection("default").capabilities.dialect == "postgres"

"""Hand-written SQL helpers, for the few reads that need a UNION to stay at one query."""

from __future__ import annotations

from tortoise.connection import get_connection


def placeholders(start: int, count: int) -> list[str]:
    """Bind markers for the default connection's dialect: `$n` on PostgreSQL, `?` elsewhere."""
    if get_connection("default").capabilities.dialect == "postgres":
        return [f"${index}" for index in range(start, start + count)]
    return ["?"] * count

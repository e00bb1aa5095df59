"""Tortoise configuration, built from a database URL.

`TORTOISE_ORM` serves the `tortoise` command (see `[tool.tortoise]` in pyproject.toml); the server
builds its own from its settings with `tortoise_config`.
"""

from __future__ import annotations

import os
from typing import Any

DEFAULT_DATABASE_URL = "sqlite://var/switchboard.sqlite3"
MODELS_MODULE = "db.models"
MIGRATIONS_MODULE = "db.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))

from __future__ import annotations

from pathlib import Path

from schema.schema import schema

SCHEMA_FILE = Path(__file__).parents[1] / "schema.graphql"


def test_the_committed_sdl_is_current() -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == schema.as_str() + "\n", (
        "schema.graphql is stale: run `make schema` (switchboard export-schema) and commit it"
    )

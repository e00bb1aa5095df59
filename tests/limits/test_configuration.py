"""The limits' settings: their defaults are the schema's, and each one is read and checked."""

from __future__ import annotations

import pytest

from schema.extensions import Limits
from server.app import schema_limits
from server.settings import Settings, SettingsError

BASE = {"JWT_SECRET": "x" * 40}


def settings(**environ: str) -> Settings:
    return Settings.from_environ({**BASE, **environ}, env_file=None)


def test_the_defaults_are_the_schemas() -> None:
    defaults = settings()
    assert schema_limits(defaults) == Limits()
    assert (defaults.max_body_bytes, defaults.max_webhook_bytes) == (1024 * 1024, 5 * 1024 * 1024)


def test_each_limit_is_read_from_its_variable() -> None:
    configured = settings(
        MAX_BODY_BYTES="2048",
        MAX_WEBHOOK_BYTES="4096",
        MAX_QUERY_ALIASES="10",
        MAX_QUERY_TOKENS="500",
        MAX_QUERY_DEPTH="4",
        UPSTREAM_BUDGET="20",
        UPSTREAM_DEADLINE_SECONDS="2.5",
    )
    assert (configured.max_body_bytes, configured.max_webhook_bytes) == (2048, 4096)
    assert schema_limits(configured) == Limits(
        max_aliases=10,
        max_tokens=500,
        max_depth=4,
        upstream_budget=20,
        upstream_deadline_seconds=2.5,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_BODY_BYTES", "0"),
        ("MAX_WEBHOOK_BYTES", "1.5"),
        ("MAX_QUERY_ALIASES", "-1"),
        ("MAX_QUERY_TOKENS", "many"),
        ("MAX_QUERY_DEPTH", "0"),
        ("UPSTREAM_BUDGET", "0"),
        ("UPSTREAM_DEADLINE_SECONDS", "0"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(**{variable: value})
    assert caught.value.variable == variable

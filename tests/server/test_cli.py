from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import jwt

from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_sandbox


def switchboard(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if key not in ("UNIPILE_DSN", "REDIS_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *arguments],
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_setting_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    done = switchboard("migrate", DATABASE_URL="nonsense", DATA_DIR=str(tmp_path))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0]


def test_migrate_seed_and_token(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "DATA_DIR": str(tmp_path / "var"),
    }
    assert switchboard("migrate", **environment).returncode == 0
    assert switchboard("migrate", **environment).returncode == 0
    seeded = switchboard("seed-demo", **environment)
    assert seeded.returncode == 0, seeded.stderr
    token = switchboard("token", "--email", "alice@demo.switchboard.test", **environment)
    assert token.returncode == 0 and token.stdout.count(".") == 2
    unknown = switchboard("token", "--email", "nobody@example.com", **environment)
    assert unknown.returncode == 1 and "nobody@example.com" in unknown.stderr


def test_a_command_before_migrate_says_in_one_line_to_run_it(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "DATA_DIR": str(tmp_path / "var"),
        "PORT": "9",
    }
    commands = [("token", "--email", "x"), ("seed-demo",), ("serve",)]
    for fresh in (True, False):
        if not fresh:  # a database file without tables
            sqlite3.connect(tmp_path / "db.sqlite3").close()
        for command in commands:
            done = switchboard(*command, **environment)
            assert done.returncode != 0, (command, done.stdout)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and "`switchboard migrate`" in lines[0], (command, done.stderr)
    assert switchboard("migrate", **environment).returncode == 0
    done = switchboard("token", "--email", "x", **environment)
    assert done.returncode == 1 and "migrate" not in done.stderr, done.stderr


def lifetime_of(token: str) -> float:
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"] - claims["iat"])


def test_the_demo_token_lasts_as_long_as_its_text_says(tmp_path: Path) -> None:
    environment = {
        "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "DATA_DIR": str(tmp_path / "var"),
    }
    assert switchboard("migrate", **environment).returncode == 0
    for hours, text in ((None, "24 hours"), ("5", "5 hours"), ("1", "1 hour")):
        ttl = {"TOKEN_TTL_HOURS": hours} if hours else {}
        seeded = switchboard("seed-demo", **environment, **ttl)
        assert seeded.returncode == 0, seeded.stderr
        stated = re.findall(r"\(valid ([^)]*)\):\n(\S+)", seeded.stdout)
        assert stated, seeded.stdout
        token = switchboard("token", "--email", "alice@demo.switchboard.test", **environment, **ttl)
        for said, demo_token in stated:
            assert said == text
            assert lifetime_of(demo_token) == lifetime_of(token.stdout.strip())


def test_webhooks_register_twice_creates_three(tmp_path: Path) -> None:
    with running_sandbox(SandboxSettings(api_key="cli-key")) as sandbox:
        environment = {
            "UNIPILE_DSN": sandbox,
            "UNIPILE_API_KEY": "cli-key",
            "DATA_DIR": str(tmp_path),
            "PUBLIC_URL": "https://crm.example.com",
            "WEBHOOK_SECRET": "a-webhook-secret-of-32-characters!!",
        }
        for _ in range(2):
            done = switchboard("webhooks", "register", **environment)
            assert done.returncode == 0, done.stderr
        listed = httpx.get(f"{sandbox}/api/v1/webhooks", headers={"X-API-KEY": "cli-key"}).json()[
            "items"
        ]
    assert len(listed) == 3
    assert {hook["request_url"] for hook in listed} == {"https://crm.example.com/webhooks/unipile"}


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert switchboard("export-schema", "--output", str(target)).returncode == 0
    assert "type Query" in target.read_text()

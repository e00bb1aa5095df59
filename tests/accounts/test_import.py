"""`switchboard accounts import` in process, on SQLite and PostgreSQL, against a sandbox over HTTP:
the configured one, and the embedded set-up's (no UNIPILE_DSN: the sandbox at SANDBOX_PORT)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from db.models import Account, User
from server.settings import Settings
from tests.inbox.conftest import SANDBOX_KEY
from tests.server.test_commands_directory import (  # noqa: F401 (fixtures)
    Cli,
    cli,
    database_url,
    on_database,
)
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_sandbox


@pytest.fixture
def sandbox(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # noqa: F811
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as url:
        monkeypatch.setenv("UNIPILE_DSN", url)
        monkeypatch.setenv("UNIPILE_API_KEY", SANDBOX_KEY)
        yield url


def _people(cli: Cli) -> None:  # noqa: F811
    cli.ok("workspaces", "create", "--name", "Acme", "--slug", "acme")
    cli.ok("workspaces", "create", "--name", "Other", "--slug", "other")
    for workspace, email in (("acme", "ann@acme.test"), ("other", "eve@other.test")):
        cli.ok("users", "create", "--workspace", workspace, "--email", email, "--name", "N",
               "--role", "admin")  # fmt: skip


def _owners(url: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        emails = {user.id: user.email for user in await User.all()}
        return {account.unipile_id: emails[account.owner_id] for account in await Account.all()}

    return on_database(url, read)


def test_import_attaches_what_no_workspace_has(cli: Cli, sandbox: str) -> None:  # noqa: F811
    _people(cli)
    listed = cli.json("accounts", "import", "--owner", "eve@other.test", "--account", "x")
    (only,) = listed["accounts"]
    assert only == {
        "unipile_id": "x",
        "result": "NOT_AT_UNIPILE",
        "type": None,
        "name": None,
        "owner": None,
    }
    everything = cli.json("accounts", "import", "--owner", "ann@acme.test")["accounts"]
    assert len(everything) >= 4 and {a["result"] for a in everything} == {"IMPORTED"}
    taken = everything[0]["unipile_id"]
    # eve's turn: each is another workspace's now; nothing changes.
    again = cli.json("accounts", "import", "--owner", "eve@other.test")
    assert {a["result"] for a in again["accounts"]} == {"OTHER_WORKSPACE"}
    assert again["summary"]["other_workspace"] == len(everything)
    owners = _owners(cli.database_url)
    assert set(owners.values()) == {"ann@acme.test"} and taken in owners
    text = cli.ok("accounts", "import", "--owner", "ann@acme.test", "--account", taken)
    line, summary = text.splitlines()
    assert line.startswith(f"already attached: {taken} ") and "(owner ann@acme.test)" in line
    assert summary.startswith("1 accounts: 0 imported") and "1 already attached" in summary


def test_refusals_write_nothing(cli: Cli, sandbox: str) -> None:  # noqa: F811
    _people(cli)
    assert "no user" in cli.refused("accounts", "import", "--owner", "nobody@acme.test")
    assert "no user" in cli.refused("accounts", "import", "--owner", "x" * 10_000)
    refused = cli.refused("accounts", "import", "--owner", "ann@acme.test", "--account", "../x")
    assert "not a UniPile account id" in refused
    cli.ok("users", "disable", "--email", "ann@acme.test")
    assert "disabled" in cli.refused("accounts", "import", "--owner", "ann@acme.test")
    assert _owners(cli.database_url) == {}


def test_embedded_sandbox_is_found_at_sandbox_port(
    cli: Cli,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _people(cli)
    key = Settings.from_environ({"DATA_DIR": str(tmp_path / "var")}, env_file=None).local_secret(
        "sandbox"
    )
    with running_sandbox(SandboxSettings(api_key=key)) as url:
        monkeypatch.setenv("SANDBOX_PORT", url.rpartition(":")[2])
        imported = cli.json("accounts", "import", "--owner", "ann@acme.test")
    assert imported["accounts"] and imported["summary"]["imported"] == len(imported["accounts"])

"""The clients a frontend uses, against a served Switchboard over the sandbox's demo data.

The served app and its fixtures are the inbox tests' (`inbox`), on SQLite only: a transport does
not depend on the database backend. The JavaScript clients are the npm packages pinned in
`package-lock.json`, installed here by `npm ci` when `node_modules` is missing; without Node.js
or those packages the tests skip, except with `CI=true`, where they fail.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.inbox.conftest import demo_tokens, inbox, sandbox_url  # noqa: F401 (fixtures)

CLIENTS = Path(__file__).parent
NPM_CI_TIMEOUT = 300


@pytest.fixture
def database(sqlite_database: str) -> str:
    return sqlite_database


@pytest.fixture(scope="session")
def node() -> str:
    """The `node` executable, with this folder's npm packages installed."""
    node = shutil.which("node")
    if node is None:
        require_service("Node.js", "no `node` on PATH")
    if not (CLIENTS / "node_modules" / "graphql-ws").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            require_service("npm", "no `npm` on PATH to install tests/clients' packages")
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(CLIENTS), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=NPM_CI_TIMEOUT,
            check=False,
        )
        if installed.returncode != 0:
            require_service("tests/clients' npm packages", installed.stderr.strip()[-500:])
    return node

"""The GraphQL-over-HTTP spec's server audits, from the `graphql-http` npm package (pinned in
`package-lock.json`), against a served Switchboard: every MUST and SHOULD audit passes, with a
token and without one."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest

from tests.clients.conftest import CLIENTS
from tests.conftest import require_service
from tests.inbox.conftest import Inbox

SCRIPT = CLIENTS / "graphql-http-audit.mjs"
RUN_TIMEOUT = 120


@pytest.fixture
def graphql_http(node: str) -> str:
    """`node`, with the `graphql-http` package installed (a `node_modules` older than it lacks
    it: `npm ci --prefix tests/clients` brings it)."""
    if not (CLIENTS / "node_modules" / "graphql-http").is_dir():
        require_service("graphql-http", "run `npm ci --prefix tests/clients` to install it")
    return node


def audit(node: str, url: str, token: str | None) -> list[dict[str, Any]]:
    done = subprocess.run(
        [node, str(SCRIPT), url, *([token] if token else [])],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


@pytest.mark.parametrize("user", ["alice", None])
async def test_every_must_and_should_audit_passes(
    inbox: Inbox, graphql_http: str, user: str | None
) -> None:
    token = inbox.tokens[user] if user else None
    results = await asyncio.to_thread(audit, graphql_http, f"{inbox.url}/graphql", token)

    assert len(results) > 50, results  # the whole suite ran
    failed = [
        result
        for result in results
        if result["name"].startswith(("MUST", "SHOULD")) and result["status"] != "ok"
    ]
    assert not failed, "\n".join(
        f"{result['id']} {result['name']}: {result.get('reason')} "
        f"(HTTP {result.get('httpStatus')}: {result.get('body')})"
        for result in failed
    )

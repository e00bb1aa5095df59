"""What `make run` gives: the server with its embedded sandbox, webhooks registered at start, so a
message posted to the sandbox reaches a subscriber with its CRM match, with no extra step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.graphql_ws import subscribe
from tests.processes import serving

MESSAGES = """subscription { messageReceived { message { text sender { crmMatch { contact { name }
  } } } conversation { externalId } } }"""


def run(arguments: list[str], environment: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", *arguments],
        env=environment,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return done.stdout.decode()


def wait_for_webhooks(sandbox: str, api_key: str) -> None:
    """The server registers its webhooks just after it starts."""
    for _ in range(100):
        listed = httpx.get(
            f"{sandbox}/api/v1/webhooks", headers={"X-API-KEY": api_key}, timeout=2
        ).json()
        if len(listed["items"]) == 3:
            return
        time.sleep(0.1)
    raise RuntimeError("the server did not register its webhooks with the sandbox")


@contextmanager
def made_run(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """`make run` in a temporary folder: migrate, seed-demo, then serve with its sandbox; yields
    the server's and the sandbox's URLs and the last token seed-demo printed."""
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "DATA_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    for variable in ("UNIPILE_DSN", "UNIPILE_API_KEY", "REDIS_URL", "PUBLIC_URL"):
        environment.pop(variable, None)
    run(["migrate"], environment)
    token = run(["seed-demo"], environment).strip().splitlines()[-1]
    with serving(environment, tmp_path / "serve", ports=("PORT", "SANDBOX_PORT")) as (url, ports):
        sandbox = f"http://127.0.0.1:{ports['SANDBOX_PORT']}"
        wait_for_webhooks(sandbox, (tmp_path / "var" / "sandbox.secret").read_text().strip())
        yield url, sandbox, token


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    with made_run(tmp_path) as served:
        yield served


async def test_a_message_posted_to_the_sandbox_reaches_a_subscriber(
    embedded: tuple[str, str, str],
) -> None:
    url, sandbox, token = embedded
    async with subscribe(url, token, MESSAGES) as live:
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{sandbox}/_sandbox/messages",
                json={
                    "account_id": "acc_gmail_demo_000001",
                    "thread_id": "live-mode-1",
                    "sender": "jane.doe@acme-corp.com",
                    "text": "Hello from the sandbox",
                    "subject": "Hi",
                },
            )
        assert response.status_code == 201
        event = (await live.next(seconds=15))["data"]["messageReceived"]
    assert event["message"]["text"].startswith("Hello from the sandbox")
    assert event["message"]["sender"]["crmMatch"] == {"contact": {"name": "Jane Doe"}}
    assert event["conversation"]["externalId"] == "live-mode-1"

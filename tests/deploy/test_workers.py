"""`switchboard serve --workers 2` on PostgreSQL and Redis: two processes behind one port. Which
worker accepts a connection is the kernel's choice, so the test makes it: the other worker is
stopped (SIGSTOP) while a connection is made, and only the running one can accept it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.graphql_ws import subscribe
from tests.inbox.conftest import (
    SANDBOX_KEY,
    SIGNING_KEY,
    WEBHOOK_SECRET,
    Inbox,
    demo_tokens,  # noqa: F401 (a fixture)
    sandbox_url,  # noqa: F401 (a fixture)
)
from tests.inbox.test_two_processes import MESSAGES, message_webhook
from tests.processes import free_port, wait_ready

WORKERS = 2
START_TIMEOUT = 30.0
# Short enough that uvicorn's supervisor, which pings each worker, never takes one for dead.
PAUSE_LIMIT = 2.0


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's uvicorn workers (spawned processes), not multiprocessing's helpers."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [
        int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def wait_for_workers(supervisor: subprocess.Popen[bytes], log: Path) -> list[int]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert supervisor.poll() is None, log.read_text()[-2000:]
        pids = worker_pids(supervisor.pid)
        if len(pids) == WORKERS:
            return pids
        time.sleep(0.1)
    raise RuntimeError(f"{WORKERS} workers did not start: {log.read_text()[-2000:]}")


def established(pid: int, port: int) -> int:
    """How many connections to `port` the process `pid` holds open (from /proc, as `ss` reads)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


@contextmanager
def only(worker: int, workers: list[int]) -> Iterator[None]:
    """Every other worker stopped for the block: connections made in it reach `worker`."""
    others = [pid for pid in workers if pid != worker]
    started = time.monotonic()
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)
    assert time.monotonic() - started < PAUSE_LIMIT


@pytest.fixture
def served(
    database: str,
    redis_url: str,
    sandbox_url: str,  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[str, list[int]]]:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "UNIPILE_DSN": sandbox_url,
        "UNIPILE_API_KEY": SANDBOX_KEY,
        "JWT_SECRET": SIGNING_KEY,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PORT": str(port),
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--workers", str(WORKERS)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=output,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        workers = wait_for_workers(supervisor, log)
        for worker in workers:
            with only(worker, workers):
                wait_ready(url, log)
        yield url, workers
    finally:
        os.killpg(supervisor.pid, signal.SIGCONT)
        os.killpg(supervisor.pid, signal.SIGTERM)
        try:
            supervisor.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()


async def deliver(url: str, payload: dict[str, object]) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{url}/webhooks/unipile", json=payload, headers={"Unipile-Auth": WEBHOOK_SECRET}
        )
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_webhook_on_one_worker_reaches_a_subscriber_on_the_other_once(
    served: tuple[str, list[int]],
    sandbox_url: str,  # noqa: F811
    demo_tokens: dict[str, str],  # noqa: F811
) -> None:
    url, (first, second) = served
    inbox = Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)
    chat_id, payload = await message_webhook(inbox, "across workers")
    with only(first, [first, second]):
        live_context = subscribe(url, demo_tokens["bob"], MESSAGES)
        live = await live_context.__aenter__()
        # Nothing yet, and time for the first worker to subscribe to Redis before it stops.
        assert await live.nothing_within(0.5)
    port = int(url.rsplit(":", 1)[1])
    assert (established(first, port), established(second, port)) == (1, 0)
    try:
        with only(second, [first, second]):
            received_by_second = await deliver(url, payload)
        with only(first, [first, second]):
            received_by_first = await deliver(url, payload)
        event = (await live.next(seconds=5))["data"]["messageReceived"]
        assert event == {
            "message": {"text": "across workers"},
            "conversation": {"externalId": chat_id},
        }
        assert await live.nothing_within(1.5)
    finally:
        await live_context.__aexit__(None, None, None)
    # The receipt is shared: the second worker recorded it, the first saw it already there.
    assert received_by_second == "recorded"
    assert received_by_first != "recorded"
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({}, "--workers needs UNIPILE_DSN"),
        (
            {"UNIPILE_DSN": "http://127.0.0.1:9", "UNIPILE_API_KEY": "k"},
            "--workers needs REDIS_URL",
        ),
    ],
)
def test_workers_refuse_settings_they_cannot_share(
    environment: dict[str, str], problem: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--workers", "2"],
        env={"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), **environment},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert problem in result.stderr


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_a_worker_count_below_one_is_a_usage_error(count: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--workers", count],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "expected a whole number of 1 or more" in result.stderr

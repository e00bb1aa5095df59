"""`switchboard serve` runs on uvloop and httptools when they are installed, and on the standard
library's loop when uvloop cannot be imported; its start-up line names both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

# `switchboard serve` in a process where `import uvloop` fails, as where it is not installed.
WITHOUT_UVLOOP = """
import sys
sys.modules["uvloop"] = None
from server.cli import main
sys.exit(main(["serve"]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if key not in ("UNIPILE_DSN", "REDIS_URL")
    }
    return {
        **env,
        "DATABASE_URL": f"sqlite://{tmp_path}/db.sqlite3",
        "DATA_DIR": str(tmp_path / "var"),
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "SANDBOX_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }


def start_up_lines(command: list[str], env: dict[str, str]) -> list[str]:
    """What the server printed by the time it answered `/readyz`, having answered it."""
    migrated = subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        ready = wait_until_ready(server, f"http://127.0.0.1:{env['PORT']}/readyz")
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert ready, output
    return output.splitlines()


def wait_until_ready(server: subprocess.Popen[str], url: str) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False


def event_loop_line(lines: list[str]) -> str:
    named = [line for line in lines if line.startswith("Event loop: ")]
    assert len(named) == 1, lines
    return named[0]


def test_serve_runs_on_uvloop_with_httptools_when_installed(tmp_path: Path) -> None:
    lines = start_up_lines([sys.executable, "-m", "server.cli", "serve"], environment(tmp_path))
    assert event_loop_line(lines) == (
        "Event loop: uvloop.Loop; HTTP: uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"
    )


def test_serve_runs_on_the_standard_loop_when_uvloop_cannot_be_imported(tmp_path: Path) -> None:
    lines = start_up_lines([sys.executable, "-c", WITHOUT_UVLOOP], environment(tmp_path))
    assert event_loop_line(lines) == (
        "Event loop: asyncio.unix_events._UnixSelectorEventLoop; "
        "HTTP: uvicorn.protocols.http.httptools_impl.HttpToolsProtocol"
    )

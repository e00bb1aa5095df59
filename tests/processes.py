"""`switchboard serve` in processes of its own, for tests of what crosses between processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready: {log.read_text()[-2000:]}")


@contextmanager
def served_processes(
    names: Sequence[str], environment: Mapping[str, str], tmp_path: Path
) -> Iterator[list[str]]:
    """One `switchboard serve` per name with `environment` (each its own port and data dir,
    its stderr in `tmp_path/<name>.log`), their URLs once all are ready; stopped after."""
    running: list[subprocess.Popen[bytes]] = []
    logs = []
    urls = []
    try:
        for name in names:
            port = free_port()
            own = {**os.environ, **environment, "PORT": str(port)}
            own["DATA_DIR"] = str(tmp_path / name)
            logs.append((tmp_path / f"{name}.log").open("wb"))
            running.append(
                subprocess.Popen(
                    [sys.executable, "-m", "server.cli", "serve"],
                    env=own,
                    stdout=subprocess.DEVNULL,
                    stderr=logs[-1],
                    start_new_session=True,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, log in zip(urls, logs, strict=True):
            wait_ready(url, Path(log.name))
        yield urls
    finally:
        for process in running:
            os.killpg(process.pid, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in logs:
            log.close()

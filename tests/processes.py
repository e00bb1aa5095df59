"""`switchboard serve` in processes of its own, for tests of what crosses between processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT_ATTEMPTS = 3
"""A free port can be taken before the server binds it (as another connection's local port):
a server that finds its port in use is started again on another."""


class PortTaken(RuntimeError):
    pass


def wait_ready(url: str, log: Path, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process is not None and process.poll() is not None:
            text = log.read_text()
            if "address already in use" in text:
                raise PortTaken(url)
            raise RuntimeError(f"{url} exited before it was ready: {text[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready: {log.read_text()[-2000:]}")


@contextmanager
def served_processes(
    names: Sequence[str], environment: Mapping[str, str], tmp_path: Path
) -> Iterator[list[str]]:
    """One `switchboard serve` per name with `environment` (each its own port and data dir,
    its stderr in `tmp_path/<name>.<attempt>.log`), their URLs once all are ready; stopped
    after."""
    with ExitStack() as stack:
        urls = []
        for name in names:
            own = {**environment, "DATA_DIR": str(tmp_path / name)}
            url, _ = stack.enter_context(serving(own, tmp_path / name))
            urls.append(url)
        yield urls


@contextmanager
def serving(
    environment: Mapping[str, str], log: Path, ports: Sequence[str] = ("PORT",)
) -> Iterator[tuple[str, dict[str, int]]]:
    """`switchboard serve` with `environment` over this process's, each variable of `ports` set
    to a free port (all anew when one turns out taken); its URL and the ports once it is
    ready, its output in `<log>.<attempt>.log`; stopped after."""
    for attempt in range(PORT_ATTEMPTS):
        chosen = {variable: free_port() for variable in ports}
        own = {**os.environ, **environment, **{k: str(v) for k, v in chosen.items()}}
        log_path = log.with_name(f"{log.name}.{attempt}.log")
        with log_path.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve"],
                env=own,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{chosen['PORT']}"
        try:
            wait_ready(url, log_path, process)
        except PortTaken:
            _stop(process)
            continue
        except BaseException:
            _stop(process)
            raise
        try:
            yield url, chosen
        finally:
            _stop(process)
        return
    raise RuntimeError(f"{log.name}: every port it was given was taken")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

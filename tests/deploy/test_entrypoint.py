"""The image's entrypoint (docker/entrypoint.sh) run as the image runs it, without Docker: the
same commands and environment, as an unprivileged user whose only writable place is DATA_DIR."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, wait_ready

ROOT = Path(__file__).parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
# The image's user (Dockerfile's USER), taken on when the tests run as root.
IMAGE_UID = 10001
SECRETS = {
    "JWT_SECRET": "entrypoint-test-signing-key-0123456789abcdef",
    "WEBHOOK_SECRET": "entrypoint-test-webhook-secret-0123456789",
}


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A DATA_DIR the image's user owns, outside pytest's root-only temporary folders."""
    path = Path(tempfile.mkdtemp(prefix="switchboard-entrypoint-"))
    if os.geteuid() == 0:
        os.chown(path, IMAGE_UID, IMAGE_UID)
    yield path
    shutil.rmtree(path)


def image_environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """The image's ENV lines, the venv's `switchboard` on PATH, and nothing of this shell's."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOST": "127.0.0.1",
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite://{data_dir}/switchboard.sqlite3",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "MIGRATE_ON_START": "false",
        **variables,
    }


def as_image_user() -> dict[str, int | list[int]]:
    """Root's tests take on the image's user; any other user is unprivileged already."""
    if os.geteuid() != 0:
        return {}
    return {"user": IMAGE_UID, "group": IMAGE_UID, "extra_groups": []}


def expected_owner() -> int:
    return IMAGE_UID if os.geteuid() == 0 else os.geteuid()


@pytest.fixture
def interpreter_reachable_by_the_image_user() -> None:
    """A venv whose interpreter lies under root's home cannot run as another user: say so rather
    than run as root and prove nothing about the user."""
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True, **as_image_user())  # type: ignore[arg-type]
    except (PermissionError, subprocess.CalledProcessError) as error:
        pytest.skip(f"uid {IMAGE_UID} cannot run {sys.executable}: {error}")


def entrypoint(
    arguments: list[str], environment: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """The script run as the image's user; skipped where that user cannot reach the checkout (a
    clone in a root-only folder, such as one `mktemp -d` made), which would prove nothing."""
    reach = subprocess.run(["/bin/sh", "-c", f"test -x '{ENTRYPOINT}'"], **as_image_user())  # type: ignore[arg-type]
    if reach.returncode != 0:
        pytest.skip(f"uid {IMAGE_UID} cannot reach {ENTRYPOINT}")
    return subprocess.run(
        [str(ENTRYPOINT), *arguments],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        **as_image_user(),  # type: ignore[arg-type]
    )


def test_the_entrypoint_is_executable_as_the_image_copies_it() -> None:
    assert os.access(ENTRYPOINT, os.X_OK)


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_serving_without_a_shared_secret_stops_before_starting(
    data_dir: Path, missing: str
) -> None:
    present = {name: value for name, value in SECRETS.items() if name != missing}
    result = entrypoint(["serve"], image_environment(data_dir, **present), data_dir)
    assert result.returncode != 0
    assert missing in result.stderr
    assert list(data_dir.iterdir()) == []


def test_no_command_means_serve_and_its_secrets_are_required(data_dir: Path) -> None:
    result = entrypoint([], image_environment(data_dir), data_dir)
    assert result.returncode != 0
    assert "JWT_SECRET" in result.stderr


def test_a_misspelt_migrate_on_start_is_refused(data_dir: Path) -> None:
    environment = image_environment(data_dir, MIGRATE_ON_START="yes", **SECRETS)
    result = entrypoint(["serve"], environment, data_dir)
    assert result.returncode == 2
    assert "MIGRATE_ON_START must be true or false" in result.stderr


@pytest.mark.usefixtures("interpreter_reachable_by_the_image_user")
def test_migrate_needs_no_secret_and_writes_only_in_data_dir(data_dir: Path) -> None:
    result = entrypoint(["migrate"], image_environment(data_dir), data_dir)
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout
    assert (data_dir / "switchboard.sqlite3").stat().st_uid == expected_owner()


@pytest.mark.usefixtures("interpreter_reachable_by_the_image_user")
def test_serve_with_migrate_on_start_becomes_ready_as_an_unprivileged_user(
    data_dir: Path,
) -> None:
    port = free_port()
    environment = image_environment(
        data_dir,
        MIGRATE_ON_START="true",
        PORT=str(port),
        SANDBOX_PORT=str(free_port()),
        **SECRETS,
    )
    # Written by this process, beside the server's files, and removed with them.
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(ENTRYPOINT), "serve"],
            env=environment,
            cwd=data_dir,
            stdout=output,
            stderr=output,
            start_new_session=True,
            **as_image_user(),  # type: ignore[arg-type]
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, log)
        assert httpx.get(f"{url}/readyz").json() == {"status": "ready"}
        assert (data_dir / "switchboard.sqlite3").stat().st_uid == expected_owner()
        # `exec`: the server is the entrypoint's own process, so that Docker's SIGTERM reaches it.
        assert (
            Path(f"/proc/{server.pid}/cmdline")
            .read_bytes()
            .split(b"\0")[1]
            .endswith(b"switchboard")
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        # uvicorn shuts down, then ends by the signal it caught (so its parent sees which).
        assert server.wait(timeout=15) == -signal.SIGTERM

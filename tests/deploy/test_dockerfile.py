"""What can be read of the image without Docker: pinned bases, the lock it installs, its user,
no secret baked in; and the compose file's images pinned to exact versions."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
# A release named to its last number (PostgreSQL's have two, the others three), an optional
# variant, and optionally a digest: never `latest` nor a major version alone.
EXACT_TAG = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?(-[\w.-]+)?(@sha256:[0-9a-f]{64})?$")
SECRETS = ("JWT_SECRET", "WEBHOOK_SECRET", "UNIPILE_API_KEY", "CRM_JWT_SECRET")


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return re.findall(rf"^{name}\s+(.+)$", joined, re.MULTILINE)


def test_every_base_image_is_an_exact_release_pinned_by_digest() -> None:
    bases = [line.split()[0] for line in instructions("FROM")]
    assert bases
    for base in bases:
        assert EXACT_TAG.match(base) and re.search(r":\d+\.\d+\.\d+", base), base
        assert "@sha256:" in base, base


def test_the_server_runs_as_the_user_the_image_creates_never_root() -> None:
    users = instructions("USER")
    assert users, "no USER line: the server would run as root"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root")
    assert re.search(rf"useradd\b[^\n]*--uid {uid}\b", DOCKERFILE.replace("\\\n", " "))
    # Nothing after the last USER runs as anyone else.
    assert not re.search(r"^RUN ", DOCKERFILE.split(f"USER {users[-1]}")[-1], re.MULTILINE)


def test_the_image_installs_the_runtime_lock_with_hashes_then_the_project_alone() -> None:
    runs = instructions("RUN")
    assert "pip install --require-hashes -r requirements.lock" in runs
    assert any(run.startswith("pip install --no-deps . ") for run in runs)
    assert "requirements.lock ./" in instructions("COPY")


def test_no_secret_has_a_value_in_the_image() -> None:
    environment = " ".join(instructions("ENV") + instructions("ARG"))
    assert [name for name in SECRETS if name in environment] == []


def test_logs_are_json_and_the_entrypoint_serves_by_default() -> None:
    assert any("LOG_FORMAT=json" in line for line in instructions("ENV"))
    assert instructions("ENTRYPOINT") == ['["switchboard-entrypoint"]']
    assert "docker/entrypoint.sh /usr/local/bin/switchboard-entrypoint" in instructions("COPY")
    assert instructions("CMD") == ['["serve"]']


def test_the_compose_files_images_are_exact_releases() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    images = {
        service["image"] for service in compose["services"].values() if "build" not in service
    }
    assert images
    assert [image for image in images if not EXACT_TAG.match(image)] == []

"""docker-compose.yml as the compose CLI reads it (`config`: no Docker engine needed): the
secrets and UniPile settings required, migrations before the app, the app scalable behind one
published port (docker/Caddyfile, as Caddy reads it), restart policies and health checks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_service

ROOT = Path(__file__).parents[2]
REQUIRED = {
    "JWT_SECRET": "compose-test-signing-key-0123456789abcdef",
    "WEBHOOK_SECRET": "compose-test-webhook-secret-0123456789",
    "UNIPILE_DSN": "https://api1.unipile.com:13111",
    "UNIPILE_API_KEY": "compose-test-unipile-key",
    "POSTGRES_PASSWORD": "compose-test-password",
}
LONG_RUNNING = ("postgres", "redis", "app", "proxy", "sandbox")


def compose_command() -> list[str]:
    """Compose v2 (`docker compose`) when installed, else Debian's `docker-compose`."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        require_service("the compose CLI", "neither `docker compose` nor `docker-compose` runs")
        raise AssertionError("unreachable")
    return [legacy]


def config(environment: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`config` with only `environment`: an empty env file, so that no .env of this tree counts."""
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    return subprocess.run(
        [
            *compose_command(),
            "--file",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(empty),
            "--profile",
            "demo",
            "config",
        ],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **environment},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def services(tmp_path: Path) -> dict[str, Any]:
    result = config(REQUIRED, tmp_path)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    return parsed


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_required_variable_missing_stops_compose_and_is_named(
    missing: str, tmp_path: Path
) -> None:
    present = {name: value for name, value in REQUIRED.items() if name != missing}
    result = config(present, tmp_path)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_the_app_gets_the_secrets_as_given(services: dict[str, Any]) -> None:
    environment = services["app"]["environment"]
    for name in ("JWT_SECRET", "WEBHOOK_SECRET", "UNIPILE_DSN", "UNIPILE_API_KEY"):
        assert environment[name] == REQUIRED[name]
    assert REQUIRED["POSTGRES_PASSWORD"] in environment["DATABASE_URL"]


def test_migrations_complete_before_the_app_starts(services: dict[str, Any]) -> None:
    assert services["migrate"]["command"] == ["migrate"]
    assert services["app"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_only_the_proxy_publishes_a_port_so_the_app_scales(services: dict[str, Any]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    # Compose v1 writes a volume as one string, v2 as a mapping: either names the Caddyfile.
    assert str(ROOT / "docker" / "Caddyfile") in json.dumps(services["proxy"]["volumes"])


def test_the_proxy_balances_over_every_app_replica_found_by_name() -> None:
    """The Caddyfile as Caddy reads it (Debian's caddy; the image runs a later 2.x)."""
    caddy = shutil.which("caddy")
    if caddy is None:
        require_service("caddy", "no caddy on PATH to read docker/Caddyfile")
        raise AssertionError("unreachable")
    adapted = subprocess.run(
        [caddy, "adapt", "--config", str(ROOT / "docker" / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    server = json.loads(adapted.stdout)["apps"]["http"]["servers"]["srv0"]
    assert server["listen"] == [":8000"]
    (handler,) = server["routes"][0]["handle"]
    assert handler["handler"] == "reverse_proxy"
    upstreams = handler["dynamic_upstreams"]
    assert (upstreams["source"], upstreams["name"], upstreams["port"]) == ("a", "app", "8000")


def test_long_running_services_restart_and_report_health(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("postgres", "redis", "proxy"):
        assert services[name]["healthcheck"]["test"], name
    # The app's own check is the image's HEALTHCHECK on /readyz, which the proxy waits for.
    assert services["proxy"]["depends_on"]["app"] == {"condition": "service_healthy"}
    assert "/readyz" in " ".join(services["proxy"]["healthcheck"]["test"])
    for name in ("migrate", "seed-demo"):
        assert services[name]["restart"] == "no", name


def test_the_demo_profile_serves_the_sandbox_and_loads_its_data(services: dict[str, Any]) -> None:
    assert services["sandbox"]["profiles"] == ["demo"]
    assert services["sandbox"]["command"][:1] == ["sandbox"]
    assert REQUIRED["UNIPILE_API_KEY"] in services["sandbox"]["command"]
    assert services["seed-demo"]["command"] == ["seed-demo"]
    assert services["seed-demo"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }

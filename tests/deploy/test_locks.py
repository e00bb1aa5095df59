"""The lock files pin every dependency pyproject.toml declares, within its range, with hashes: a
dependency added to pyproject.toml without `make lock` fails here rather than in the image."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[2]
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
# One pinned requirement: its name and version, its environment marker if any, then its hashes.
PIN = re.compile(
    r"^([A-Za-z0-9._-]+)==([^\s;]+)(?: ;[^\\\n]*)?((?:\s*\\\n\s+--hash=\S+)*)", re.MULTILINE
)


def project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def runtime_requirements() -> list[Requirement]:
    dependencies = project()["dependencies"]
    assert isinstance(dependencies, list)
    return [Requirement(line) for line in dependencies]


def dev_requirements() -> list[Requirement]:
    extras = project()["optional-dependencies"]
    assert isinstance(extras, dict)
    return [Requirement(line) for line in extras["dev"]]


def pins(lock: Path) -> dict[str, tuple[Version, int]]:
    """Each locked package's version and how many hashes it carries."""
    text = lock.read_text(encoding="utf-8")
    return {
        canonicalize_name(name): (Version(version), hashes.count("--hash=sha256:"))
        for name, version, hashes in PIN.findall(text)
    }


def unpinned(requirements: list[Requirement], lock: Path) -> list[str]:
    locked = pins(lock)
    missing = []
    for requirement in requirements:
        pin = locked.get(canonicalize_name(requirement.name))
        if pin is None or not requirement.specifier.contains(pin[0], prereleases=True):
            missing.append(str(requirement))
    return missing


def test_the_runtime_lock_pins_every_runtime_dependency_in_its_range() -> None:
    assert unpinned(runtime_requirements(), RUNTIME_LOCK) == []


def test_the_dev_lock_pins_every_runtime_and_dev_dependency_in_its_range() -> None:
    assert unpinned(runtime_requirements() + dev_requirements(), DEV_LOCK) == []


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda lock: lock.name)
def test_every_locked_package_carries_a_hash(lock: Path) -> None:
    locked = pins(lock)
    requirement_lines = re.findall(r"^[A-Za-z0-9]", lock.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(locked) == len(requirement_lines)
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []


def test_the_dev_lock_keeps_the_runtime_versions() -> None:
    runtime = pins(RUNTIME_LOCK)
    dev = pins(DEV_LOCK)
    assert {name: dev.get(name, (None, 0))[0] for name in runtime} == {
        name: version for name, (version, _) in runtime.items()
    }


def test_the_locks_never_name_this_machines_package_sources() -> None:
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        text = lock.read_text(encoding="utf-8")
        assert not re.search(r"^--(find-links|index-url|extra-index-url)", text, re.MULTILINE)

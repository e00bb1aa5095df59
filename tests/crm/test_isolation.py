"""`crm` decides from the database alone: no HTTP client, no UniPile, no network."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import crm

NETWORK_PACKAGES = frozenset({"httpx", "httpcore", "unipile", "aiohttp", "requests", "urllib3"})
CRM_MODULES = sorted(Path(crm.__file__).parent.glob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return {name.partition(".")[0] for name in names}


@pytest.mark.parametrize("path", CRM_MODULES, ids=lambda path: path.name)
def test_crm_modules_import_no_network_client(path: Path) -> None:
    assert not _imported_packages(path) & NETWORK_PACKAGES


def test_importing_crm_loads_no_network_client() -> None:
    script = "import sys, crm; print(' '.join(sorted({m.partition('.')[0] for m in sys.modules})))"
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert not set(loaded) & NETWORK_PACKAGES

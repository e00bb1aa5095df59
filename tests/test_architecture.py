"""The layers keep their order, and no module of the project takes part in an import cycle."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.architecture import (
    LAYERS,
    ROOT,
    exception_classes,
    import_cycles,
    import_graph,
    project_packages,
    wrong_way_imports,
)


def test_every_package_has_a_layer() -> None:
    layered = {package for layer in LAYERS for package in layer}
    assert set(project_packages()) == layered


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert [str(found) for found in wrong_way_imports(import_graph())] == []


def test_no_modules_import_each_other_in_a_cycle() -> None:
    assert import_cycles(import_graph()) == []


def _copy_of_the_project(destination: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", destination)
    for package in project_packages():
        shutil.copytree(
            ROOT / package, destination / package, ignore=shutil.ignore_patterns("*.pyc")
        )
    return destination


def test_a_wrong_way_import_is_found(tmp_path: Path) -> None:
    root = _copy_of_the_project(tmp_path)
    ids = root / "core" / "ids.py"
    ids.write_text(
        ids.read_text() + "\n\ndef _late() -> None:\n    from server.settings import Settings\n"
    )
    assert [str(found) for found in wrong_way_imports(import_graph(root))] == [
        "core.ids imports server.settings, a layer above it"
    ]


def test_a_cycle_is_found(tmp_path: Path) -> None:
    root = _copy_of_the_project(tmp_path)
    (root / "core" / "first.py").write_text("from core import second\n")
    (root / "core" / "second.py").write_text("from core.first import name\n")
    assert import_cycles(import_graph(root)) == [["core.first", "core.second"]]


def test_no_two_exceptions_share_a_name() -> None:
    shared = {name: modules for name, modules in exception_classes().items() if len(modules) > 1}
    assert shared == {}

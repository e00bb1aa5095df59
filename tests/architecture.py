"""The project's import graph, read from its source, and the rules its layers keep.

Every import counts, wherever it stands (a function's body, an `if TYPE_CHECKING:` block): each is
a dependency of the module that writes it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top to bottom; a module may import its own layer's packages and those of any layer below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("server",),
    ("schema",),
    ("resolvers",),
    ("realtime", "sending"),
    ("storing",),
    ("inbox",),
    ("access", "accounts", "crm", "paging"),
    ("unipile", "db"),
    ("core",),
)

Graph = Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class WrongWayImport:
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.importer} imports {self.imported}, a layer above it"


def project_packages(root: Path = ROOT) -> tuple[str, ...]:
    with (root / "pyproject.toml").open("rb") as file:
        return tuple(tomllib.load(file)["tool"]["mypy"]["packages"])


def _module_files(root: Path, packages: Sequence[str]) -> Iterator[tuple[str, Path]]:
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def _imported_names(module: str, path: Path) -> Iterator[str]:
    """The dotted names a module imports: for `from a import b`, both `a.b` and `a`."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}"


def import_graph(root: Path = ROOT) -> Graph:
    """Each of the project's modules, with the project modules it imports."""
    files = dict(_module_files(root, project_packages(root)))
    graph: dict[str, frozenset[str]] = {}
    for module, path in files.items():
        targets = set()
        for name in _imported_names(module, path):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = frozenset(targets)
    return graph


def _layer_of(module: str) -> int:
    package = module.partition(".")[0]
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise LookupError(f"{package} is in no layer of tests/architecture.py")


def wrong_way_imports(graph: Graph) -> list[WrongWayImport]:
    return sorted(
        (
            WrongWayImport(importer, imported)
            for importer, targets in graph.items()
            for imported in targets
            if _layer_of(imported) < _layer_of(importer)
        ),
        key=str,
    )


def import_cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        cycles.append(sorted(group))
    return cycles


def exception_classes(root: Path = ROOT) -> dict[str, list[str]]:
    """Every exception class the project defines, by name, with the modules that define it."""
    found: dict[str, list[str]] = {}
    for module_name, _ in _module_files(root, project_packages(root)):
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module_name
            ):
                found.setdefault(name, []).append(module_name)
    return found

"""The stamp of the frontend's sources that `make web` writes beside the built app.

A sha256 per source file (web/src/**, web/index.html, web/package.json, web/package-lock.json,
web/tsconfig.json, web/*.config.*, schema.graphql) and one over all of them, in
`server/web/dist/sources.json`. A test compares it with the sources as they are: the built app
is stale when any of them changed, appeared or went since the build.

    python -m server.web.stamp          # write the stamp (after `vite build`)
    python -m server.web.stamp --check  # exit 1, naming the files, when it is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAMP = Path(__file__).resolve().parent / "dist" / "sources.json"
WEB = "web"
SOURCE_FILES = ("index.html", "package.json", "package-lock.json", "tsconfig.json")


def source_paths(root: Path = ROOT) -> Iterator[Path]:
    """The files a build is made from, relative to `root`, in a stable order."""
    web = root / WEB
    found = [path for path in (web / "src").rglob("*") if path.is_file()]
    found += [web / name for name in SOURCE_FILES if (web / name).is_file()]
    found += [path for path in web.glob("*.config.*") if path.is_file()]
    found.append(root / "schema.graphql")
    yield from sorted(path.relative_to(root) for path in found)


def file_digests(root: Path = ROOT) -> dict[str, str]:
    return {
        path.as_posix(): hashlib.sha256((root / path).read_bytes()).hexdigest()
        for path in source_paths(root)
    }


def combined_digest(digests: dict[str, str]) -> str:
    whole = hashlib.sha256()
    for name in sorted(digests):
        whole.update(f"{name}\0{digests[name]}\n".encode())
    return whole.hexdigest()


@dataclass(frozen=True, slots=True)
class Staleness:
    changed: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    def describe(self) -> str:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (
                ("changed", self.changed),
                ("new", self.added),
                ("gone", self.removed),
            )
            if names
        ]
        return "the built frontend is stale (" + "; ".join(parts) + "): run `make web`"


def write_stamp(root: Path = ROOT, stamp: Path = STAMP) -> None:
    digests = file_digests(root)
    body = {"sha256": combined_digest(digests), "files": digests}
    stamp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_stamp(stamp: Path = STAMP) -> dict[str, str]:
    files: dict[str, str] = json.loads(stamp.read_text(encoding="utf-8"))["files"]
    return files


def staleness(root: Path = ROOT, stamp: Path = STAMP) -> Staleness:
    """How the sources differ from those the built app was made from."""
    built = read_stamp(stamp)
    now = file_digests(root)
    return Staleness(
        changed=tuple(
            sorted(name for name in built.keys() & now.keys() if built[name] != now[name])
        ),
        added=tuple(sorted(now.keys() - built.keys())),
        removed=tuple(sorted(built.keys() - now.keys())),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the built app is stale")
    arguments = parser.parse_args(argv)
    if not arguments.check:
        write_stamp()
        return 0
    if not STAMP.is_file():
        print("the frontend was never built: run `make web`", file=sys.stderr)
        return 1
    stale = staleness()
    if stale:
        print(stale.describe(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

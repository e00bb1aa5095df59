"""Refresh GraphiQL's shipped assets: `make graphiql-assets` (`python -m server.graphiql.refresh`).

Packs the pinned versions below from the npm registry (`npm pack`, which checks each tarball
against the registry's integrity) into a temporary folder, copies the files the page loads into
`server/graphiql/assets/`, and rewrites `manifest.json` with the sha384 of every served file
(Switchboard's own bootstrap files included), which the page uses as `integrity=` attributes.

Only this command needs npm and the network; serving the page and the tests read the committed
files. To upgrade, change `PACKAGES` (versions that work together: GraphiQL 4's UMD build needs
the UMD builds of React 18, which React 19 no longer publishes), run it, and run the tests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
MANIFEST = "manifest.json"

JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    files: dict[str, str]
    """Served name -> path inside the package."""


# GraphiQL 4.1.2's UMD build bundles graphql-js 16 and the graphql-ws client it uses for
# subscriptions (graphql-transport-ws), so no separate graphql-ws file is needed.
PACKAGES = (
    Package(
        "react",
        "18.3.1",
        {"react.production.min.js": "umd/react.production.min.js", "LICENSE.react.txt": "LICENSE"},
    ),
    Package(
        "react-dom",
        "18.3.1",
        {
            "react-dom.production.min.js": "umd/react-dom.production.min.js",
            "LICENSE.react-dom.txt": "LICENSE",
        },
    ),
    Package(
        "graphiql",
        "4.1.2",
        {
            "graphiql.min.js": "graphiql.min.js",
            "graphiql.min.css": "graphiql.min.css",
            "LICENSE.graphiql.txt": "LICENSE",
        },
    ),
)
OWN_FILES = {"switchboard-graphiql.js": JAVASCRIPT, "switchboard-graphiql.css": CSS}
"""Switchboard's bootstrap, next to the vendored files; hashed, never downloaded."""


def content_type(name: str) -> str:
    if name.endswith(".js"):
        return JAVASCRIPT
    if name.endswith(".css"):
        return CSS
    return TEXT


def sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def npm_pack(package: Package, into: Path) -> tuple[Path, str]:
    """The package's tarball, packed into `into`, and its registry integrity."""
    result = subprocess.run(
        ["npm", "pack", f"{package.name}@{package.version}", "--json", "--pack-destination", into],
        check=True,
        capture_output=True,
        text=True,
    )
    [packed] = json.loads(result.stdout)
    if packed["version"] != package.version:
        raise SystemExit(f"npm packed {packed['id']}, not {package.name}@{package.version}")
    return into / packed["filename"], str(packed["integrity"])


def extract(tarball: Path, files: dict[str, str], into: Path) -> None:
    with tarfile.open(tarball) as archive:
        for served, inside in files.items():
            member = archive.extractfile(f"package/{inside}")
            if member is None:
                raise SystemExit(f"{tarball.name} has no file {inside}")
            (into / served).write_bytes(member.read())


def manifest(packages: dict[str, str]) -> dict[str, object]:
    files: dict[str, dict[str, str | None]] = {}
    for package in PACKAGES:
        for served, inside in package.files.items():
            files[served] = {
                "package": f"{package.name}@{package.version}",
                "source": inside,
                "content_type": content_type(served),
                "sha384": sha384((ASSETS / served).read_bytes()),
            }
    for served, kind in OWN_FILES.items():
        files[served] = {
            "package": None,
            "source": None,
            "content_type": kind,
            "sha384": sha384((ASSETS / served).read_bytes()),
        }
    return {
        "about": "Written by `make graphiql-assets` (python -m server.graphiql.refresh): "
        "do not edit by hand.",
        "packages": packages,
        "files": files,
    }


def refresh(rehash_only: bool) -> None:
    packages: dict[str, str] = {}
    if rehash_only:
        current = json.loads((ASSETS / MANIFEST).read_text(encoding="utf-8"))
        packages = current["packages"]
    else:
        if shutil.which("npm") is None:
            raise SystemExit("npm is required to refresh the GraphiQL assets")
        with tempfile.TemporaryDirectory() as folder:
            temporary = Path(folder)
            for package in PACKAGES:
                tarball, integrity = npm_pack(package, temporary)
                extract(tarball, package.files, ASSETS)
                packages[f"{package.name}@{package.version}"] = integrity
    text = json.dumps(manifest(packages), indent=2, ensure_ascii=False) + "\n"
    (ASSETS / MANIFEST).write_text(text, encoding="utf-8")
    print(f"wrote {ASSETS / MANIFEST}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rehash-only",
        action="store_true",
        help="only recompute the hashes (after editing the switchboard-graphiql files); no npm",
    )
    arguments = parser.parse_args(argv)
    refresh(arguments.rehash_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())

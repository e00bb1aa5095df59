"""The built frontend in the package (server/web/dist/) against its sources, with no Node: it is
complete (index.html names assets that are there) and made from the sources as they are now
(the stamp `make web` writes); the staleness check itself notices a changed, a new and a
removed source file; and the operations the app sends are valid against schema.graphql."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from graphql import OperationDefinitionNode, build_schema, parse, validate

from server.web import DIST
from server.web.stamp import ROOT, source_paths, staleness, write_stamp


def test_the_built_frontend_is_made_from_the_sources_as_they_are() -> None:
    stale = staleness()
    assert not stale, stale.describe()


def test_the_built_index_names_only_assets_that_ship() -> None:
    page = (DIST / "index.html").read_text(encoding="utf-8")
    named = re.findall(r'(?:src|href)="/assets/([^"]+)"', page)
    assert any(name.endswith(".js") for name in named), page
    assert any(name.endswith(".css") for name in named), page
    for name in named:
        assert (DIST / "assets" / name).is_file(), f"index.html names a missing asset {name}"


def test_the_stamp_covers_the_sources_a_build_reads() -> None:
    covered = {path.as_posix() for path in source_paths()}
    assert {"schema.graphql", "web/index.html", "web/package-lock.json"} <= covered
    assert {"web/vite.config.ts", "web/codegen.config.ts", "web/src/main.tsx"} <= covered
    assert "web/src/gql/graphql.ts" in covered, "the generated operation types are sources too"
    assert not any(name.startswith("web/node_modules/") for name in covered)


def copy_sources(into: Path) -> None:
    for path in source_paths():
        (into / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, into / path)


def test_a_changed_new_or_removed_source_makes_the_build_stale(tmp_path: Path) -> None:
    copy_sources(tmp_path)
    stamp = tmp_path / "sources.json"
    write_stamp(tmp_path, stamp)
    assert not staleness(tmp_path, stamp)

    with (tmp_path / "schema.graphql").open("a", encoding="utf-8") as schema:
        schema.write("\nscalar Extra\n")
    (tmp_path / "web" / "src" / "Extra.tsx").write_text("export {};\n", encoding="utf-8")
    (tmp_path / "web" / "index.html").unlink()

    stale = staleness(tmp_path, stamp)
    assert stale.changed == ("schema.graphql",)
    assert stale.added == ("web/src/Extra.tsx",)
    assert stale.removed == ("web/index.html",)
    assert "run `make web`" in stale.describe()


def app_documents() -> list[str]:
    """The GraphQL the app sends: every graphql(`…`) in web/src/operations.ts."""
    source = (ROOT / "web" / "src" / "operations.ts").read_text(encoding="utf-8")
    return re.findall(r"graphql\(`(.*?)`\)", source, re.S)


def test_every_operation_the_app_sends_is_valid_against_the_committed_schema() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))
    document = parse("\n".join(app_documents()))
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) >= 15, "the inbox, the conversation, the search, the mutations, live"
    assert not validate(schema, document), [str(error) for error in validate(schema, document)]

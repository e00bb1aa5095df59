"""`switchboard crm import FILE`: contacts or companies from a JSONL or CSV file, upserted by
their external ids in batches through the upsert mutations' own code (`crm.upserts`).

A progress bar goes to stderr when it is a terminal (tqdm: maintained, no dependencies, and it
turns itself off on a pipe); the summary always goes to stdout, as text or with `--json` one JSON
document. Rejected lines are listed with their line number and reason; the command still exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from tqdm import tqdm

from access.directory import workspace_by_slug
from core.errors import SwitchboardError
from crm.importing import FileFormat, Kind, Row, UnreadableFile, format_of, read_rows
from crm.rematch import link_upserted
from crm.upserts import MAX_RECORDS, CompanyItem, ContactItem, Outcome, Refused
from crm.upserts import upsert_companies as upsert_company_items
from crm.upserts import upsert_contacts as upsert_contact_items
from server.commands._database import CommandError, with_database
from server.settings import Settings

if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Subcommands) -> None:
    parser = commands.add_parser("crm", help="the CRM's records")
    group = parser.add_subparsers(dest="crm_command", required=True)
    imported = group.add_parser(
        "import", help="upsert contacts or companies from a JSONL or CSV file"
    )
    imported.add_argument("file", type=Path, help="a .jsonl or .csv file")
    imported.add_argument("--workspace", required=True, help="the workspace's slug")
    imported.add_argument(
        "--kind", choices=[kind.value for kind in Kind], default=Kind.CONTACTS.value
    )
    imported.add_argument(
        "--format",
        choices=[f.value for f in FileFormat],
        help="default: from the file's extension (.jsonl, .ndjson, .csv)",
    )
    imported.add_argument("--json", action="store_true", help="print one JSON document")
    imported.set_defaults(run=crm_import)


@dataclass(slots=True)
class Summary:
    counts: Counter[Outcome] = field(default_factory=Counter)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            **{outcome.value.lower(): self.counts[outcome] for outcome in Outcome},
            "rejections": self.rejected,
        }

    def text(self) -> str:
        said = ", ".join(f"{self.counts[o]} {o.value.lower()}" for o in Outcome)
        lines = [said, *(f"line {r['line']}: {_reason(r)}" for r in self.rejected)]
        return "\n".join(lines)


def _reason(rejection: dict[str, Any]) -> str:
    field_name = rejection["field"]
    return rejection["reason"] if field_name is None else f"{field_name}: {rejection['reason']}"


def crm_import(settings: Settings, arguments: argparse.Namespace) -> None:
    path: Path = arguments.file
    kind = Kind(arguments.kind)
    try:
        file_format = FileFormat(arguments.format) if arguments.format else format_of(path)
        source = path.open("rb")
    except UnreadableFile as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
    summary = Summary()

    async def run() -> None:
        with source:
            try:
                workspace = await workspace_by_slug(arguments.workspace)
                with tqdm(unit=" rows", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
                    for batch in _batches(read_rows(source, kind, file_format)):
                        await _import_batch(workspace.id, kind, batch, summary)
                        bar.update(len(batch))
            except (SwitchboardError, UnreadableFile) as error:
                raise CommandError(str(error)) from None

    asyncio.run(with_database(settings, run))
    if arguments.json:
        print(json.dumps(summary.document(), ensure_ascii=True))
    else:
        print(summary.text())


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, MAX_RECORDS)):
        yield batch


async def _import_batch(workspace_id: int, kind: Kind, batch: list[Row], summary: Summary) -> None:
    items = [row.item for row in batch]
    if kind is Kind.CONTACTS:
        report = await upsert_contact_items(
            workspace_id, [i for i in items if isinstance(i, ContactItem | Refused)]
        )
    else:
        report = await upsert_company_items(
            workspace_id, [i for i in items if isinstance(i, CompanyItem | Refused)]
        )
    # Inline, unlike after a mutation: the command's process ends when it returns.
    await link_upserted(workspace_id, report.region, report.added_identifiers, report.added_domains)
    for row, result in zip(batch, report.results, strict=True):
        summary.counts[result.outcome] += 1
        if result.error is not None:
            summary.rejected.append(
                {
                    "line": row.line,
                    "externalId": result.external_id,
                    "field": result.error.extensions.get("argument"),
                    "reason": str(result.error),
                }
            )

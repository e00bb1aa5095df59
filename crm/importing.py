"""Reading contacts or companies from a file for `switchboard crm import`: JSON Lines or CSV.

A JSONL line is one JSON object in the upsert mutations' item shape (`externalId`, `firstName`,
`lastName`, `emails`, `phones`, `providerIds`, `companyExternalId`; or `externalId`, `name`,
`domains`). A CSV file has a header row naming those same columns, one record per row, and lists
separated by `;`. A line that cannot be read as an item (bad JSON, a wrong type, an unknown field)
becomes a `Refused` with its reason; the upsert checks the rest, as it checks the mutations'.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from core.errors import BadUserInput
from crm.upserts import CompanyItem, ContactItem, Refused

__all__ = [
    "MAX_LINE_BYTES",
    "FileFormat",
    "Kind",
    "Row",
    "UnreadableFile",
    "format_of",
    "read_rows",
]

# Far above any valid record (50 identifiers of 320 characters each, and names): a longer line
# is refused unread rather than held in memory.
MAX_LINE_BYTES = 1_000_000
LIST_SEPARATOR = ";"


class Kind(StrEnum):
    CONTACTS = "contacts"
    COMPANIES = "companies"


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class UnreadableFile(Exception):
    """The file cannot be read at all (a missing header column, an unknown one)."""


_STRINGS = {
    Kind.CONTACTS: ("externalId", "firstName", "lastName", "companyExternalId"),
    Kind.COMPANIES: ("externalId", "name"),
}
_LISTS = {
    Kind.CONTACTS: ("emails", "phones", "providerIds"),
    Kind.COMPANIES: ("domains",),
}


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    item: ContactItem | CompanyItem | Refused


def format_of(path: Path) -> FileFormat:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "ndjson"):
        return FileFormat.JSONL
    if suffix == "csv":
        return FileFormat.CSV
    raise UnreadableFile(f"cannot tell the format of {path.name}: give --format jsonl or csv")


def read_rows(source: BinaryIO, kind: Kind, file_format: FileFormat) -> Iterator[Row]:
    if file_format is FileFormat.JSONL:
        return _jsonl_rows(source, kind)
    return _csv_rows(source, kind)


def _jsonl_rows(source: BinaryIO, kind: Kind) -> Iterator[Row]:
    for number, raw in enumerate(_lines(source), start=1):
        if not raw.strip():
            continue
        yield Row(number, _from_json_line(raw, kind))


def _lines(source: BinaryIO) -> Iterator[bytes]:
    """The file's lines, each cut at `MAX_LINE_BYTES` + 1 so that an endless one is not held."""
    while line := source.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            # The rest of the overlong line, dropped as it is read.
            while (rest := source.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        yield line


def _from_json_line(raw: bytes, kind: Kind) -> ContactItem | CompanyItem | Refused:
    if len(raw) > MAX_LINE_BYTES:
        return _refused(None, f"the line is longer than {MAX_LINE_BYTES} bytes")
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _refused(None, "the line is not UTF-8")
    except json.JSONDecodeError as error:
        return _refused(None, f"not JSON: {error.msg} at column {error.colno}")
    if not isinstance(value, dict):
        return _refused(None, "a line must be one JSON object")
    return _item(value, kind)


def _csv_rows(source: BinaryIO, kind: Kind) -> Iterator[Row]:
    try:
        text = source.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"the file is not UTF-8 (byte {error.start})") from None
    reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
    columns = reader.fieldnames or []
    known = set(_STRINGS[kind]) | set(_LISTS[kind])
    unknown = [column for column in columns if column not in known]
    if unknown:
        raise UnreadableFile(f"unknown column {unknown[0]!r}; {kind.value} have {sorted(known)}")
    if "externalId" not in columns:
        raise UnreadableFile("the header has no externalId column")
    line = reader.line_num
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Row(reader.line_num, _refused(None, f"not CSV: {error}"))
            continue
        start, line = line + 1, reader.line_num
        yield Row(start, _from_csv_record(record, kind))


def _from_csv_record(
    record: Mapping[str | None, str | list[str] | None], kind: Kind
) -> ContactItem | CompanyItem | Refused:
    if None in record:
        return _refused(None, "the row has more cells than the header")
    value: dict[str, Any] = {}
    for column, cell in record.items():
        if column is None or cell is None or cell == "":
            continue
        if column in _LISTS[kind]:
            value[column] = [part for part in str(cell).split(LIST_SEPARATOR) if part.strip()]
        else:
            value[column] = cell
    return _item(value, kind)


def _item(value: Mapping[str, Any], kind: Kind) -> ContactItem | CompanyItem | Refused:
    external_id = value.get("externalId")
    shown = external_id if isinstance(external_id, str) else None
    known = set(_STRINGS[kind]) | set(_LISTS[kind])
    for name, given in value.items():
        if name not in known:
            return _refused(shown, f"unknown field {name[:100]!r}", name[:100])
        if name in _STRINGS[kind] and not isinstance(given, str):
            return _refused(shown, "must be a string", name)
        if name in _LISTS[kind] and not (
            isinstance(given, list) and all(isinstance(entry, str) for entry in given)
        ):
            return _refused(shown, "must be a list of strings", name)
    if shown is None:
        return _refused(None, "an externalId is required", "externalId")
    if kind is Kind.COMPANIES:
        return CompanyItem(
            external_id=shown, name=value.get("name", ""), domains=value.get("domains", [])
        )
    return ContactItem(
        external_id=shown,
        first_name=value.get("firstName", ""),
        last_name=value.get("lastName", ""),
        emails=value.get("emails", []),
        phones=value.get("phones", []),
        provider_ids=value.get("providerIds", []),
        company_external_id=value.get("companyExternalId"),
    )


def _refused(external_id: str | None, reason: str, field: str | None = None) -> Refused:
    shown = None if external_id is None else external_id[:255]
    return Refused(shown, BadUserInput(reason, argument=field))

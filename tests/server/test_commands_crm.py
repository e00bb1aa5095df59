"""`switchboard crm import` run for real through `server.cli.main`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from db.models import Company, Contact, ContactIdentifier
from tests.server.test_commands_directory import Cli, cli, database_url, on_database  # noqa: F401

CONTACTS = 10_000


def workspace(cli: Cli, slug: str = "acme") -> None:  # noqa: F811
    cli.ok("workspaces", "create", "--name", slug.title(), "--slug", slug)


def imported(cli: Cli, path: Path, *options: str) -> dict[str, Any]:  # noqa: F811
    summary: dict[str, Any] = cli.json("crm", "import", str(path), "--workspace", "acme", *options)
    return summary


def counts(summary: dict[str, Any]) -> tuple[int, int, int, int]:
    return (summary["created"], summary["updated"], summary["unchanged"], summary["rejected"])


def test_ten_thousand_contacts_then_the_same_file_again_changes_nothing(
    cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    workspace(cli)
    path = tmp_path / "contacts.jsonl"
    with path.open("w") as file:
        for i in range(CONTACTS):
            contact = {
                "externalId": f"crm-{i}",
                "firstName": "Person",
                "lastName": str(i),
                "emails": [f"person.{i}@example-import.com"],
                "phones": [f"+1 415 55{i:05d}"],
            }
            file.write(json.dumps(contact) + "\n")
    first = imported(cli, path)
    assert counts(first) == (CONTACTS, 0, 0, 0) and first["rejections"] == []
    second = imported(cli, path)
    assert counts(second) == (0, 0, CONTACTS, 0)

    async def stored() -> tuple[int, int]:
        return await Contact.all().count(), await ContactIdentifier.all().count()

    assert on_database(cli.database_url, stored) == (CONTACTS, 2 * CONTACTS)


def test_csv_companies_then_contacts_with_lists_separated_by_semicolons(
    cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    workspace(cli)
    companies = tmp_path / "companies.csv"
    companies.write_text("externalId,name,domains\nco-1,Acme,acme-import.com;www.acme-import.org\n")
    assert counts(imported(cli, companies, "--kind", "companies")) == (1, 0, 0, 0)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "externalId,firstName,lastName,emails,phones,companyExternalId\n"
        'c-1,Jane,"Doe, Jr.",jane@acme-import.com;j.doe@acme-import.com,+33 6 12 34 56 78,co-1\n'
        "c-2,Fred,Nobody,,,\n"
        "c-3,Ghost,Company,,,co-unknown\n"
    )
    summary = imported(cli, contacts)
    assert counts(summary) == (2, 0, 0, 1)
    assert summary["rejections"] == [
        {
            "line": 4,
            "externalId": "c-3",
            "field": "companyExternalId",
            "reason": "no such company",
        }
    ]

    async def jane() -> tuple[str, list[str], str | None]:
        contact = await Contact.get(external_id="c-1").prefetch_related("identifiers", "company")
        values = sorted(identifier.value for identifier in contact.identifiers)
        company = await Company.get_or_none(id=contact.company_id)
        return contact.last_name, values, None if company is None else company.name

    assert on_database(cli.database_url, jane) == (
        "Doe, Jr.",
        ["+33612345678", "j.doe@acme-import.com", "jane@acme-import.com"],
        "Acme",
    )


def test_bad_lines_are_rejected_with_their_line_and_the_others_imported(
    cli: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    workspace(cli)
    path = tmp_path / "contacts.jsonl"
    lines = [
        json.dumps({"externalId": "good-1", "firstName": "Good"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"externalId": 42}),
        json.dumps({"firstName": "No id"}),
        json.dumps({"externalId": "x" * 300}),
        json.dumps({"externalId": "long-name", "firstName": "n" * 10_000}),
        json.dumps({"externalId": "bad-list", "emails": "jane@example.com"}),
        json.dumps({"externalId": "extra", "password": "secret"}),
        "",
        json.dumps({"externalId": "good-2", "emails": ["ok@example-import.com"]}),
    ]
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n")
    summary = imported(cli, path)
    assert counts(summary) == (2, 0, 0, 9)
    assert [(r["line"], r["field"]) for r in summary["rejections"]] == [
        (2, None),
        (3, None),
        (4, "externalId"),
        (5, "externalId"),
        (6, "externalId"),
        (7, "firstName"),
        (8, "emails"),
        (9, "password"),
        (12, None),
    ]
    text = cli.ok("crm", "import", str(path), "--workspace", "acme")
    assert text.splitlines()[0] == "0 created, 0 updated, 2 unchanged, 9 rejected"
    assert "line 2: not JSON" in text and "line 12: the line is not UTF-8" in text


def test_a_command_that_cannot_run_exits_1(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    workspace(cli)
    missing = cli.refused("crm", "import", str(tmp_path / "none.jsonl"), "--workspace", "acme")
    assert "cannot read" in missing
    path = tmp_path / "contacts.jsonl"
    path.write_text(json.dumps({"externalId": "a"}) + "\n")
    unknown = cli.refused("crm", "import", str(path), "--workspace", "no-such")
    assert "no workspace" in unknown
    odd = tmp_path / "contacts.txt"
    odd.write_text("")
    assert "--format" in cli.refused("crm", "import", str(odd), "--workspace", "acme")
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("externalId,password\na,b\n")
    assert "unknown column" in cli.refused("crm", "import", str(bad_header), "--workspace", "acme")

    async def none() -> int:
        return await Contact.all().count()

    assert on_database(cli.database_url, none) == 0

"""The CRM's contacts and companies by primary key, for one workspace, in one query per batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from aiodataloader import DataLoader
from tortoise.connection import get_connection

from crm.reading import CompanyRecord, ContactRecord
from db.models import Company, Contact, ContactIdentifier
from db.sql import placeholders

# Contacts with their identifiers, companies and those companies' domains, in one query: one
# column layout for the four kinds of row.
_CONTACTS_SQL = """
SELECT 'P' AS row_kind, c.id, c.company_id AS owner_id, c.first_name AS text1,
       c.last_name AS text2, NULL AS text3, c.external_id AS text4, c.created_at AS at1,
       c.updated_at AS at2
FROM contact c WHERE c.workspace_id = {} AND c.id IN ({})
UNION ALL
SELECT 'I', i.id, i.contact_id, i.kind, i.value, i.original, NULL, NULL, NULL
FROM contact_identifier i WHERE i.workspace_id = {} AND i.contact_id IN ({})
UNION ALL
SELECT 'K', co.id, NULL, co.name, NULL, NULL, co.external_id, co.created_at, co.updated_at
FROM company co WHERE co.workspace_id = {}
  AND co.id IN (SELECT company_id FROM contact WHERE workspace_id = {} AND id IN ({}))
UNION ALL
SELECT 'D', d.id, d.company_id, d.domain, NULL, NULL, NULL, NULL, NULL
FROM company_domain d WHERE d.workspace_id = {}
  AND d.company_id IN (SELECT company_id FROM contact WHERE workspace_id = {} AND id IN ({}))
"""
_COMPANIES_SQL = """
SELECT 'K' AS row_kind, co.id, NULL AS owner_id, co.name AS text1, co.external_id AS text4,
       co.created_at AS at1, co.updated_at AS at2
FROM company co WHERE co.workspace_id = {} AND co.id IN ({})
UNION ALL
SELECT 'D', d.id, d.company_id, d.domain, NULL, NULL, NULL
FROM company_domain d WHERE d.workspace_id = {} AND d.company_id IN ({})
"""


def _bind(sql: str, markers: str, workspace_id: int, keys: Sequence[int]) -> tuple[str, list[Any]]:
    """`sql` with its `{}` markers bound in order: `w` the workspace id, `i` the list of keys."""
    bound: list[str] = []
    values: list[Any] = []
    for marker in markers:
        count = len(keys) if marker == "i" else 1
        bound.append(", ".join(placeholders(len(values) + 1, count)))
        values.extend(keys if marker == "i" else [workspace_id])
    return sql.format(*bound), values


def _companies_from_rows(
    rows: Iterable[dict[str, Any]], workspace_id: int
) -> dict[int, CompanyRecord]:
    companies: dict[int, Company] = {}
    domains: defaultdict[int, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        if row["row_kind"] == "K":
            companies[row["id"]] = Company._init_from_db(
                id=row["id"],
                workspace_id=workspace_id,
                name=row["text1"],
                external_id=row["text4"],
                created_at=row["at1"],
                updated_at=row["at2"],
            )
        elif row["row_kind"] == "D":
            domains[row["owner_id"]].append((row["id"], row["text1"]))
    return {
        pk: CompanyRecord(company, tuple(domain for _, domain in sorted(domains[pk])))
        for pk, company in companies.items()
    }


class ContactByIdLoader(DataLoader[int, ContactRecord | None]):
    """Contacts of one workspace by primary key, with their identifiers and company, in one query
    per batch; another workspace's ids load as None."""

    def __init__(self, workspace_id: int) -> None:
        super().__init__()
        self.workspace_id = workspace_id

    async def batch_load_fn(self, keys: Sequence[int]) -> list[ContactRecord | None]:
        sql, values = _bind(_CONTACTS_SQL, "wiwiwwiwwi", self.workspace_id, keys)
        rows = await get_connection("default").execute_query_dict(sql, values)
        companies = _companies_from_rows(rows, self.workspace_id)
        contacts: dict[int, Contact] = {}
        identifiers: defaultdict[int, list[ContactIdentifier]] = defaultdict(list)
        for row in rows:
            if row["row_kind"] == "P":
                contacts[row["id"]] = Contact._init_from_db(
                    id=row["id"],
                    workspace_id=self.workspace_id,
                    first_name=row["text1"],
                    last_name=row["text2"],
                    company_id=row["owner_id"],
                    external_id=row["text4"],
                    created_at=row["at1"],
                    updated_at=row["at2"],
                )
            elif row["row_kind"] == "I":
                identifiers[row["owner_id"]].append(
                    ContactIdentifier._init_from_db(
                        id=row["id"],
                        workspace_id=self.workspace_id,
                        contact_id=row["owner_id"],
                        kind=row["text1"],
                        value=row["text2"],
                        original=row["text3"],
                    )
                )
        records = {
            pk: ContactRecord(
                contact=contact,
                identifiers=tuple(sorted(identifiers[pk], key=lambda i: i.id)),
                company=None if contact.company_id is None else companies.get(contact.company_id),
            )
            for pk, contact in contacts.items()
        }
        return [records.get(key) for key in keys]


class CompanyByIdLoader(DataLoader[int, CompanyRecord | None]):
    """Companies of one workspace by primary key, with their domains, in one query per batch;
    another workspace's ids load as None."""

    def __init__(self, workspace_id: int) -> None:
        super().__init__()
        self.workspace_id = workspace_id

    async def batch_load_fn(self, keys: Sequence[int]) -> list[CompanyRecord | None]:
        sql, values = _bind(_COMPANIES_SQL, "wiwi", self.workspace_id, keys)
        rows = await get_connection("default").execute_query_dict(sql, values)
        records = _companies_from_rows(rows, self.workspace_id)
        return [records.get(key) for key in keys]

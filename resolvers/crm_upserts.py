"""The bulk upserts as GraphQL runs them: each item checked like createContact's input, the
upsert in `crm.upserts`, the records read back in one batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import BadUserInput
from crm.upserts import (
    CompanyItem,
    ContactItem,
    ItemResult,
    Refused,
    UpsertReport,
    upsert_companies,
    upsert_contacts,
)
from resolvers.context import Context
from resolvers.crm import CompanyByIdLoader, CompanyRecord, ContactByIdLoader, ContactRecord
from schema.ids import int_key

__all__ = [
    "CompanyUpsert",
    "ContactUpsert",
    "company_key",
    "upsert_company_records",
    "upsert_contact_records",
]


@dataclass(frozen=True, slots=True)
class ContactUpsert:
    result: ItemResult
    record: ContactRecord | None


@dataclass(frozen=True, slots=True)
class CompanyUpsert:
    result: ItemResult
    record: CompanyRecord | None


def company_key(global_id: str) -> int:
    """The key of a `companyId`, named as that field in an error."""
    try:
        return int_key(global_id, "Company")
    except BadUserInput as error:
        raise BadUserInput(str(error), argument="companyId") from None


async def upsert_contact_records(
    context: Context, items: Sequence[ContactItem | Refused]
) -> list[ContactUpsert]:
    """Any user of the workspace may upsert, as any may createContact."""
    workspace_id = context.viewer().workspace_id
    report = await upsert_contacts(workspace_id, items)
    loaded = await ContactByIdLoader(workspace_id).load_many(_record_ids(report))
    by_id = {record.contact.id: record for record in loaded if record is not None}
    return [
        ContactUpsert(result, None if result.record_id is None else by_id.get(result.record_id))
        for result in report.results
    ]


async def upsert_company_records(
    context: Context, items: Sequence[CompanyItem | Refused]
) -> list[CompanyUpsert]:
    workspace_id = context.viewer().workspace_id
    report = await upsert_companies(workspace_id, items)
    loaded = await CompanyByIdLoader(workspace_id).load_many(_record_ids(report))
    by_id = {record.company.id: record for record in loaded if record is not None}
    return [
        CompanyUpsert(result, None if result.record_id is None else by_id.get(result.record_id))
        for result in report.results
    ]


def _record_ids(report: UpsertReport) -> list[int]:
    return [result.record_id for result in report.results if result.record_id is not None]

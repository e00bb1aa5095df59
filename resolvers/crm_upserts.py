"""The bulk upserts as GraphQL runs them: each item checked like createContact's input, the
upsert in `crm.upserts`, the records read back in one batch.

Stored conversations the new identifiers match are linked after the response, by a task of this
process (`crm.rematch.link_upserted`, in batches): up to 1,000 re-matches would hold the call for
seconds. Not the job queue of `storing.jobs`, whose rows are conversations to store, one per
conversation; a re-match lost to a restart is made again by the next upsert of the record, or by
`crm import` run again (it re-matches before it returns).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiodataloader import DataLoader

from core.errors import BadUserInput
from core.ids import int_key
from crm.reading import CompanyRecord, ContactRecord
from crm.rematch import link_upserted
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

__all__ = [
    "CompanyUpsert",
    "ContactUpsert",
    "Upserted",
    "company_key",
    "upsert_company_records",
    "upsert_contact_records",
]


RecordT = TypeVar("RecordT", ContactRecord, CompanyRecord)


@dataclass(frozen=True, slots=True)
class Upserted(Generic[RecordT]):
    """One item's outcome, with its record as it is now unless it was rejected."""

    result: ItemResult
    record: RecordT | None


ContactUpsert = Upserted[ContactRecord]
CompanyUpsert = Upserted[CompanyRecord]


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
    return await _read_back(workspace_id, report, (await context.loaders()).contact_by_id)


async def upsert_company_records(
    context: Context, items: Sequence[CompanyItem | Refused]
) -> list[CompanyUpsert]:
    workspace_id = context.viewer().workspace_id
    report = await upsert_companies(workspace_id, items)
    return await _read_back(workspace_id, report, (await context.loaders()).company_by_id)


async def _read_back(
    workspace_id: int, report: UpsertReport, loader: DataLoader[int, RecordT | None]
) -> list[Upserted[RecordT]]:
    """The records of the report, read in one batch once the re-match is under way."""
    _rematch_later(workspace_id, report)
    # Cleared: the request's loader may hold records as they were before this upsert.
    loaded = await loader.clear_all().load_many(_record_ids(report))
    by_id = {_key(record): record for record in loaded if record is not None}
    return [
        Upserted(result, None if result.record_id is None else by_id.get(result.record_id))
        for result in report.results
    ]


def _key(record: ContactRecord | CompanyRecord) -> int:
    return record.contact.id if isinstance(record, ContactRecord) else record.company.id


log = logging.getLogger(__name__)
# The re-matches running: the event loop keeps only weak references to its tasks.
_REMATCHES: set[asyncio.Task[None]] = set()


def _rematch_later(workspace_id: int, report: UpsertReport) -> None:
    if not report.added_identifiers and not report.added_domains:
        return
    # A context of its own: the request's query counter and transaction are not the task's.
    task = asyncio.create_task(_rematch(workspace_id, report), context=contextvars.Context())
    _REMATCHES.add(task)
    task.add_done_callback(_REMATCHES.discard)


async def _rematch(workspace_id: int, report: UpsertReport) -> None:
    try:
        await link_upserted(
            workspace_id, report.region, report.added_identifiers, report.added_domains
        )
    except Exception:  # a background task: nobody else would hear of its failure
        log.exception("re-matching stored conversations after an upsert failed")


def _record_ids(report: UpsertReport) -> list[int]:
    return [result.record_id for result in report.results if result.record_id is not None]

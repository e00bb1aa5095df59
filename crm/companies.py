"""Writing one company: create, update, delete.

Every write is checked in full before anything is written (the domains normalised and free in
the workspace), then made in one transaction. When a company gains domains, the stored
conversations of the workspace with someone at them get a MATCHER link, in the same transaction
(`crm.rematch.link_stored_conversations`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import BadUserInput
from crm import records
from crm.caching import Kept, bumped_after
from crm.matching import CandidateKind
from crm.rematch import link_stored_conversations
from crm.writing import KEEP, Keep, delete_record, free_external_id, stored_record
from db.models import Company, CompanyDomain

__all__ = ["CompanyChanges", "create_company", "delete_company", "update_company"]


@dataclass(frozen=True, slots=True)
class CompanyChanges:
    """A company's fields as a create or update sets them; `None` leaves a field as it is."""

    name: str | None = None
    domains: Sequence[str] | None = None
    # None clears it.
    external_id: str | Keep | None = KEEP


async def create_company(workspace_id: int, changes: CompanyChanges) -> int:
    """The new company's key."""
    name = _company_name(changes.name or "")
    domains = await _free_domains(workspace_id, None, changes.domains or ())
    external_id = await free_external_id(Company, workspace_id, None, changes.external_id)
    async with (
        _domain_races_reported(),
        in_transaction(),
        bumped_after(workspace_id, Kept.CRM_RECORDS),
    ):
        company = await Company.create(
            workspace_id=workspace_id, name=name, external_id=external_id
        )
        added = await _replace_domains(workspace_id, company.id, domains)
        await link_stored_conversations(
            workspace_id, None, CandidateKind.COMPANY, company.id, domains=added
        )
    return company.id


async def update_company(workspace_id: int, company_id: int, changes: CompanyChanges) -> None:
    company = await stored_record(Company, workspace_id, company_id)
    name = None if changes.name is None else _company_name(changes.name)
    domains = (
        None
        if changes.domains is None
        else await _free_domains(workspace_id, company.id, changes.domains)
    )
    updates: dict[str, Any] = {}
    if name is not None:
        updates["name"] = name
    if changes.external_id is not KEEP:
        updates["external_id"] = await free_external_id(
            Company, workspace_id, company.id, changes.external_id
        )
    async with (
        _domain_races_reported(),
        in_transaction(),
        bumped_after(workspace_id, Kept.CRM_RECORDS),
    ):
        if updates:
            company.update_from_dict(updates)
            await company.save(update_fields=[*updates, "updated_at"])
        if domains is not None:
            added = await _replace_domains(workspace_id, company.id, domains)
            await link_stored_conversations(
                workspace_id, None, CandidateKind.COMPANY, company.id, domains=added
            )


async def delete_company(workspace_id: int, company_id: int) -> None:
    """Its domains and links go with it; its contacts stay, without company."""
    await delete_record(Company, workspace_id, company_id)


def _company_name(raw: str) -> str:
    name = records.name(raw, "name")
    if not name:
        raise BadUserInput("a company needs a name", argument="name")
    return name


async def _free_domains(
    workspace_id: int, company_id: int | None, raws: Sequence[str]
) -> list[str]:
    """The domains normalised, duplicates dropped, none of them another company's."""
    index_of = records.normalised_domains(raws)
    taken = CompanyDomain.filter(workspace_id=workspace_id, domain__in=list(index_of))
    if company_id is not None:
        taken = taken.exclude(company_id=company_id)
    clash = await taken.order_by("id").values_list("domain", flat=True)
    if clash:
        first = min(index_of[str(domain)] for domain in clash)
        raise BadUserInput(
            f"{raws[first]!r} is already a domain of another company",
            argument=f"domains[{first}]",
        )
    return list(index_of)


@asynccontextmanager
async def _domain_races_reported() -> AsyncIterator[None]:
    """A company write that lost a race for a domain (the unique constraint fired after
    `_free_domains` passed) is reported as that check reports it; its transaction rolled back."""
    try:
        yield
    except IntegrityError:
        raise BadUserInput(
            "a domain is already used by another company", argument="domains"
        ) from None


async def _replace_domains(workspace_id: int, company_id: int, domains: Sequence[str]) -> list[str]:
    """Make the company's domains exactly `domains`; returns those added."""
    current = await CompanyDomain.filter(company_id=company_id)
    gone = [row.id for row in current if row.domain not in domains]
    if gone:
        await CompanyDomain.filter(id__in=gone).delete()
    kept = {row.domain for row in current}
    added = [domain for domain in domains if domain not in kept]
    await CompanyDomain.bulk_create(
        CompanyDomain(workspace_id=workspace_id, company_id=company_id, domain=domain)
        for domain in added
    )
    return added

"""Bulk upserts of contacts and companies, keyed on the CRM's own ids (`external_id`).

One call writes up to `MAX_RECORDS` records in a fixed number of queries, however many it holds:
the records of the call's external ids are read by one `IN (...)` query, their identifiers or
domains by another, then one transaction creates, updates and replaces in bulk. Each item gets
its own outcome, in input order; a bad item is rejected with its reason and stops none of the
others. A record given exactly as it is stored is UNCHANGED and costs no write.

An upsert sets the whole record: the names, the company, and all of its identifiers (a contact)
or domains (a company), which replace the stored ones; a list left out is an empty list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.errors import BadUserInput, Conflict, NotFound, SwitchboardError
from core.vocabulary import IdentifierKind
from crm.caching import Kept, bumped_after
from crm.normalize import Identifier
from crm.records import external_id as checked_external_id
from crm.records import name as checked_name
from crm.records import normalised_domains, normalised_identifiers
from crm.writing import default_region
from db.models import Company, CompanyDomain, Contact, ContactIdentifier

__all__ = [
    "MAX_RECORDS",
    "CompanyItem",
    "ContactItem",
    "ItemResult",
    "Outcome",
    "Refused",
    "UpsertReport",
    "upsert_companies",
    "upsert_contacts",
]

# Bounds one call's transaction and the size of its `IN (...)` lists.
MAX_RECORDS = 1_000


class Outcome(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    UNCHANGED = "UNCHANGED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class ContactItem:
    """A contact as the CRM holds it. Its company is named by one of `company_id` (a key of
    this workspace) or `company_external_id`, or by neither for no company."""

    external_id: str
    first_name: str = ""
    last_name: str = ""
    emails: Sequence[str] = ()
    phones: Sequence[str] = ()
    provider_ids: Sequence[str] = ()
    company_id: int | None = None
    company_external_id: str | None = None


@dataclass(frozen=True, slots=True)
class CompanyItem:
    external_id: str
    name: str
    domains: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    """An item its caller already found unusable (a wrong type, an undecodable id): it keeps
    its place among the results."""

    external_id: str | None
    error: SwitchboardError


@dataclass(frozen=True, slots=True)
class ItemResult:
    external_id: str | None
    outcome: Outcome
    record_id: int | None = None
    error: SwitchboardError | None = None


@dataclass(frozen=True, slots=True)
class UpsertReport:
    """The results in input order, and what each record gained: the identifiers (of contacts)
    or domains (of companies) that stored conversations may now match."""

    results: list[ItemResult]
    # The workspace's default region, which read the contacts' phone numbers.
    region: str | None = None
    added_identifiers: dict[int, list[Identifier]] = field(default_factory=dict)
    added_domains: dict[int, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class _Contact:
    index: int
    external_id: str
    first_name: str
    last_name: str
    identifiers: dict[Identifier, str]
    company_id: int | None = None
    company_external_id: str | None = None


@dataclass(slots=True)
class _Company:
    index: int
    external_id: str
    name: str
    # Normalised domain → its index in the input.
    domains: dict[str, int]


ItemT = TypeVar("ItemT", ContactItem, CompanyItem)
CheckedT = TypeVar("CheckedT", _Contact, _Company)


# -- contacts ---------------------------------------------------------------------------------


async def upsert_contacts(
    workspace_id: int, items: Sequence[ContactItem | Refused]
) -> UpsertReport:
    _check_size(items, "contacts")
    region = await default_region(workspace_id)
    results: list[ItemResult | None] = [None] * len(items)
    checked = _first_of_each(_checked(items, results, lambda item: _contact(item, region)), results)
    await _resolve_companies(workspace_id, checked, results)
    checked = [contact for contact in checked if results[contact.index] is None]
    existing = {
        str(contact.external_id): contact
        for contact in await Contact.filter(
            workspace_id=workspace_id, external_id__in=[c.external_id for c in checked]
        )
    }
    current = await _current_identifiers([contact.id for contact in existing.values()])
    fresh, changed = _new_and_changed(
        checked,
        existing,
        lambda contact, stored: _differs(contact, stored, current.get(stored.id, {})),
        results,
    )
    async with _races_reported(), in_transaction(), bumped_after(workspace_id, Kept.CRM_RECORDS):
        ids = await _create_contacts(workspace_id, fresh)
        await _update_contacts(changed)
        _written(results, fresh, ids, changed)
        wanted = {ids[c.external_id]: c.identifiers for c in fresh} | {
            stored.id: c.identifiers for c, stored in changed
        }
        added = await _replace_identifiers(workspace_id, wanted, current)
    return UpsertReport(_all(results), region=region, added_identifiers=added)


def _contact(item: ContactItem, region: str) -> _Contact:
    external_id = checked_external_id(item.external_id)
    if item.company_id is not None and item.company_external_id is not None:
        raise BadUserInput(
            "name the company by companyId or by companyExternalId, not both",
            argument="companyExternalId",
        )
    company_external_id = (
        None
        if item.company_external_id is None
        else checked_external_id(item.company_external_id, "companyExternalId")
    )
    normalised = normalised_identifiers(
        {
            IdentifierKind.EMAIL: item.emails,
            IdentifierKind.PHONE: item.phones,
            IdentifierKind.PROVIDER_ID: item.provider_ids,
        },
        region,
    )
    return _Contact(
        index=-1,
        external_id=external_id,
        first_name=checked_name(item.first_name, "firstName"),
        last_name=checked_name(item.last_name, "lastName"),
        identifiers={
            Identifier(kind, value): original
            for kind, values in normalised.items()
            for value, original in values.items()
        },
        company_id=item.company_id,
        company_external_id=company_external_id,
    )


async def _resolve_companies(
    workspace_id: int, contacts: list[_Contact], results: list[ItemResult | None]
) -> None:
    """Turn each contact's company, named by key or by external id, into a key of the
    workspace; a contact whose company the workspace does not hold is rejected."""
    keys = {c.company_id for c in contacts if c.company_id is not None}
    external_ids = {c.company_external_id for c in contacts if c.company_external_id is not None}
    known_keys = (
        {
            int(str(key))
            for key in await Company.filter(workspace_id=workspace_id, id__in=keys).values_list(
                "id", flat=True
            )
        }
        if keys
        else set()
    )
    by_external_id: dict[str, int] = (
        {
            str(external_id): int(key)
            for external_id, key in await Company.filter(
                workspace_id=workspace_id, external_id__in=external_ids
            ).values_list("external_id", "id")
        }
        if external_ids
        else {}
    )
    for contact in contacts:
        if contact.company_external_id is not None:
            contact.company_id = by_external_id.get(contact.company_external_id)
            if contact.company_id is None:
                _reject(results, contact, NotFound("no such company", argument="companyExternalId"))
        elif contact.company_id is not None and contact.company_id not in known_keys:
            _reject(results, contact, NotFound("no such company", argument="companyId"))


async def _current_identifiers(contact_ids: list[int]) -> dict[int, dict[Identifier, int]]:
    """Each contact's identifiers, with their rows' keys."""
    current: dict[int, dict[Identifier, int]] = {}
    if contact_ids:
        for row in await ContactIdentifier.filter(contact_id__in=contact_ids):
            current.setdefault(row.contact_id, {})[Identifier(row.kind, row.value)] = row.id
    return current


def _differs(contact: _Contact, stored: Contact, identifiers: Mapping[Identifier, int]) -> bool:
    return (
        contact.first_name != stored.first_name
        or contact.last_name != stored.last_name
        or contact.company_id != stored.company_id
        or contact.identifiers.keys() != identifiers.keys()
    )


async def _create_contacts(workspace_id: int, fresh: list[_Contact]) -> dict[str, int]:
    return await _created_keys(
        Contact,
        workspace_id,
        [
            Contact(
                workspace_id=workspace_id,
                external_id=contact.external_id,
                first_name=contact.first_name,
                last_name=contact.last_name,
                company_id=contact.company_id,
            )
            for contact in fresh
        ],
    )


RecordT = TypeVar("RecordT", Contact, Company)


async def _created_keys(
    model: type[RecordT], workspace_id: int, rows: list[RecordT]
) -> dict[str, int]:
    """Inserts the new records in one statement and reads their keys back by external id, since
    `bulk_create` does not return them on every backend."""
    if not rows:
        return {}
    await model.bulk_create(rows)
    created = await model.filter(
        workspace_id=workspace_id, external_id__in=[row.external_id for row in rows]
    ).values_list("external_id", "id")
    return {str(external_id): int(key) for external_id, key in created}


async def _update_contacts(changed: list[tuple[_Contact, Contact]]) -> None:
    if not changed:
        return
    now = datetime.now(UTC)
    for contact, stored in changed:
        stored.first_name = contact.first_name
        stored.last_name = contact.last_name
        stored.company_id = contact.company_id
        stored.updated_at = now
    await Contact.bulk_update(
        [stored for _, stored in changed],
        fields=["first_name", "last_name", "company_id", "updated_at"],
    )


async def _replace_identifiers(
    workspace_id: int,
    wanted: Mapping[int, Mapping[Identifier, str]],
    current: Mapping[int, Mapping[Identifier, int]],
) -> dict[int, list[Identifier]]:
    """Make each contact's identifiers exactly those wanted (one delete, one insert); returns
    those added. An identifier kept keeps its row and the spelling first entered."""
    gone = [
        row_id
        for contact_id, identifiers in wanted.items()
        for identifier, row_id in current.get(contact_id, {}).items()
        if identifier not in identifiers
    ]
    if gone:
        await ContactIdentifier.filter(id__in=gone).delete()
    added = {
        contact_id: [i for i in identifiers if i not in current.get(contact_id, {})]
        for contact_id, identifiers in wanted.items()
    }
    rows = [
        ContactIdentifier(
            workspace_id=workspace_id,
            contact_id=contact_id,
            kind=identifier.kind,
            value=identifier.value,
            original=wanted[contact_id][identifier],
        )
        for contact_id, identifiers in added.items()
        for identifier in identifiers
    ]
    if rows:
        await ContactIdentifier.bulk_create(rows)
    return {contact_id: identifiers for contact_id, identifiers in added.items() if identifiers}


# -- companies --------------------------------------------------------------------------------


async def upsert_companies(
    workspace_id: int, items: Sequence[CompanyItem | Refused]
) -> UpsertReport:
    _check_size(items, "companies")
    results: list[ItemResult | None] = [None] * len(items)
    checked = _first_of_each(_checked(items, results, _company), results)
    existing = {
        str(company.external_id): company
        for company in await Company.filter(
            workspace_id=workspace_id, external_id__in=[c.external_id for c in checked]
        )
    }
    holders = await _domain_holders(workspace_id, checked, existing.values())
    checked = _free_domains(checked, existing, holders, results)
    current: dict[int, set[str]] = {}
    for domain, company_id in holders.items():
        current.setdefault(company_id, set()).add(domain)
    fresh, changed = _new_and_changed(
        checked,
        existing,
        lambda company, stored: (
            company.name != stored.name or company.domains.keys() != current.get(stored.id, set())
        ),
        results,
    )
    async with _races_reported(), in_transaction(), bumped_after(workspace_id, Kept.CRM_RECORDS):
        ids = await _create_companies(workspace_id, fresh)
        await _update_companies(changed)
        _written(results, fresh, ids, changed)
        wanted = {ids[c.external_id]: list(c.domains) for c in fresh} | {
            stored.id: list(c.domains) for c, stored in changed
        }
        added = await _replace_domains(workspace_id, wanted, current)
    return UpsertReport(_all(results), added_domains=added)


def _company(item: CompanyItem) -> _Company:
    external_id = checked_external_id(item.external_id)
    name = checked_name(item.name, "name")
    if not name:
        raise BadUserInput("a company needs a name", argument="name")
    return _Company(-1, external_id, name, normalised_domains(item.domains))


async def _domain_holders(
    workspace_id: int, companies: list[_Company], existing: Iterable[Company]
) -> dict[str, int]:
    """The company holding each domain the call names or its stored companies hold now."""
    domains = {domain for company in companies for domain in company.domains}
    stored_ids = [company.id for company in existing]
    if not domains and not stored_ids:
        return {}
    rows = await CompanyDomain.filter(
        Q(domain__in=domains) | Q(company_id__in=stored_ids), workspace_id=workspace_id
    ).values_list("domain", "company_id")
    return {str(domain): int(company_id) for domain, company_id in rows}


def _free_domains(
    companies: list[_Company],
    existing: Mapping[str, Company],
    holders: Mapping[str, int],
    results: list[ItemResult | None],
) -> list[_Company]:
    """The companies none of whose domains another company holds, or an earlier item of the
    call claims; the others are rejected."""
    claimed: set[str] = set()
    free: list[_Company] = []
    for company in companies:
        stored = existing.get(company.external_id)
        own_id = None if stored is None else stored.id
        clash = next(
            (
                (domain, index)
                for domain, index in company.domains.items()
                if domain in claimed or holders.get(domain, own_id) != own_id
            ),
            None,
        )
        if clash is None:
            claimed.update(company.domains)
            free.append(company)
        else:
            domain, index = clash
            error = BadUserInput(
                f"{domain!r} is already a domain of another company", argument=f"domains[{index}]"
            )
            _reject(results, company, error)
    return free


async def _create_companies(workspace_id: int, fresh: list[_Company]) -> dict[str, int]:
    return await _created_keys(
        Company,
        workspace_id,
        [
            Company(workspace_id=workspace_id, external_id=company.external_id, name=company.name)
            for company in fresh
        ],
    )


async def _update_companies(changed: list[tuple[_Company, Company]]) -> None:
    if not changed:
        return
    now = datetime.now(UTC)
    for company, stored in changed:
        stored.name = company.name
        stored.updated_at = now
    await Company.bulk_update([stored for _, stored in changed], fields=["name", "updated_at"])


async def _replace_domains(
    workspace_id: int, wanted: Mapping[int, list[str]], current: Mapping[int, set[str]]
) -> dict[int, list[str]]:
    """Make each company's domains exactly those wanted (one delete, one insert); returns those
    added."""
    gone = [
        (company_id, domain)
        for company_id, domains in wanted.items()
        for domain in current.get(company_id, set())
        if domain not in domains
    ]
    if gone:
        await CompanyDomain.filter(
            workspace_id=workspace_id, domain__in=[domain for _, domain in gone]
        ).delete()
    added = {
        company_id: [d for d in domains if d not in current.get(company_id, set())]
        for company_id, domains in wanted.items()
    }
    rows = [
        CompanyDomain(workspace_id=workspace_id, company_id=company_id, domain=domain)
        for company_id, domains in added.items()
        for domain in domains
    ]
    if rows:
        await CompanyDomain.bulk_create(rows)
    return {company_id: domains for company_id, domains in added.items() if domains}


# -- shared -----------------------------------------------------------------------------------


def _check_size(items: Sequence[object], argument: str) -> None:
    if len(items) > MAX_RECORDS:
        raise BadUserInput(
            f"at most {MAX_RECORDS} {argument} per call, not {len(items)}", argument=argument
        )


def _checked(
    items: Sequence[ItemT | Refused],
    results: list[ItemResult | None],
    check: Callable[[ItemT], CheckedT],
) -> list[CheckedT]:
    """The items that pass `check`, with their input index; the others are rejected."""
    passed: list[CheckedT] = []
    for index, item in enumerate(items):
        if isinstance(item, Refused):
            results[index] = ItemResult(item.external_id, Outcome.REJECTED, error=item.error)
            continue
        try:
            checked = check(item)
        except SwitchboardError as error:
            given = getattr(item, "external_id", None)
            results[index] = ItemResult(given, Outcome.REJECTED, error=error)
            continue
        checked.index = index
        passed.append(checked)
    return passed


def _first_of_each(checked: Iterable[CheckedT], results: list[ItemResult | None]) -> list[CheckedT]:
    """The first item of each external id; later ones are rejected."""
    seen: set[str] = set()
    first: list[CheckedT] = []
    for item in checked:
        if item.external_id in seen:
            error = Conflict(
                "this external id is given earlier in the same call", argument="externalId"
            )
            _reject(results, item, error)
        else:
            seen.add(item.external_id)
            first.append(item)
    return first


def _new_and_changed(
    checked: list[CheckedT],
    existing: Mapping[str, RecordT],
    differs: Callable[[CheckedT, RecordT], bool],
    results: list[ItemResult | None],
) -> tuple[list[CheckedT], list[tuple[CheckedT, RecordT]]]:
    """The items no record has yet, and those that change their stored record (with it); the
    others are UNCHANGED."""
    fresh: list[CheckedT] = []
    changed: list[tuple[CheckedT, RecordT]] = []
    for item in checked:
        stored = existing.get(item.external_id)
        if stored is None:
            fresh.append(item)
        elif differs(item, stored):
            changed.append((item, stored))
        else:
            results[item.index] = ItemResult(item.external_id, Outcome.UNCHANGED, stored.id)
    return fresh, changed


def _written(
    results: list[ItemResult | None],
    fresh: list[CheckedT],
    ids: Mapping[str, int],
    changed: list[tuple[CheckedT, RecordT]],
) -> None:
    """The outcomes of the items created (`ids`: their keys by external id) and updated."""
    for item in fresh:
        results[item.index] = ItemResult(item.external_id, Outcome.CREATED, ids[item.external_id])
    for item, stored in changed:
        results[item.index] = ItemResult(item.external_id, Outcome.UPDATED, stored.id)


def _reject(
    results: list[ItemResult | None], item: _Contact | _Company, error: SwitchboardError
) -> None:
    results[item.index] = ItemResult(item.external_id, Outcome.REJECTED, error=error)


def _all(results: list[ItemResult | None]) -> list[ItemResult]:
    done = [result for result in results if result is not None]
    assert len(done) == len(results), "every item has an outcome"
    return done


@asynccontextmanager
async def _races_reported() -> AsyncIterator[None]:
    """A call that lost a race to a concurrent write of the same external id or domain (a
    unique constraint fired after the checks passed) fails whole, its transaction rolled back."""
    try:
        yield
    except IntegrityError:
        raise Conflict(
            "a concurrent write took one of these external ids or domains; try again"
        ) from None

"""The CRM's contacts and companies, read for the viewer's workspace only.

Every read loads a page or a batch with a fixed number of queries, however many records it holds:
the records, then their identifiers or domains, then (for contacts) their companies, each by one
`__in` query. What is returned is plain data; the schema turns it into GraphQL objects.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.cursors import ViewerCursors
from core.identity import Identity
from core.pages import OffsetPage, validate_first
from db.models import Company, CompanyDomain, Contact, ContactIdentifier

CONTACTS = "contacts"
COMPANIES = "companies"
DEFAULT_PAGE_SIZE = 20
CONTACT_ORDER = ("last_name", "first_name", "id")
COMPANY_ORDER = ("name", "id")

ModelT = TypeVar("ModelT", bound=Model)
RecordT = TypeVar("RecordT")


@dataclass(frozen=True, slots=True)
class CompanyRecord:
    company: Company
    domains: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContactRecord:
    contact: Contact
    identifiers: tuple[ContactIdentifier, ...]
    company: CompanyRecord | None


def list_key(kind: str, search: str | None) -> str:
    """A list is its kind and its search: a cursor of one search does not page another."""
    digest = hashlib.blake2b((search or "").encode(), digest_size=8).hexdigest()
    return f"{kind}:{digest}"


@dataclass(frozen=True, slots=True)
class _Listing(Generic[ModelT, RecordT]):
    """One of the CRM's lists: which rows a search keeps, in which order, and how a page of
    rows becomes records."""

    kind: str
    search: Callable[[int, str | None], QuerySet[ModelT]]
    order: tuple[str, ...]
    load: Callable[[int, list[ModelT]], Awaitable[list[RecordT]]]

    async def page(
        self,
        identity: Identity,
        cursors: ViewerCursors,
        first: int | None,
        after: str | None,
        search: str | None,
    ) -> OffsetPage[RecordT]:
        workspace_id = identity.workspace_id
        key = list_key(self.kind, search)
        ordered = self.search(workspace_id, search).order_by(*self.order)
        size = validate_first(first, DEFAULT_PAGE_SIZE)
        offset = cursors.start_offset(key, after)
        total = await ordered.count()
        # One row beyond the page tells whether another page follows, whatever the count said.
        rows = await ordered.offset(offset).limit(size + 1)
        records = await self.load(workspace_id, rows[:size])
        return OffsetPage(key, offset, records, has_next_page=len(rows) > size, total_count=total)


def _search_terms(search: str | None) -> list[str]:
    """Words that must each match somewhere, so that "ada lovelace" finds Ada Lovelace; a word
    given twice, in any case, is one condition. The schema bounds how many words a search has
    (`schema.inputs.SEARCH_WORDS`): each costs a condition on every row."""
    words: dict[str, str] = {}
    for word in (search or "").split():
        words.setdefault(word.lower(), word)
    return list(words.values())


def _contact_search(workspace_id: int, search: str | None) -> QuerySet[Contact]:
    # One flat AND of a condition per word (`&=` would nest them one level deeper each).
    conditions = [Q(workspace_id=workspace_id)]
    for term in _search_terms(search):
        identifiers = ContactIdentifier.filter(
            Q(value__icontains=term) | Q(original__icontains=term), workspace_id=workspace_id
        )
        conditions.append(
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(id__in=Subquery(identifiers.values("contact_id")))
        )
    return Contact.filter(Q(*conditions))


def _company_search(workspace_id: int, search: str | None) -> QuerySet[Company]:
    conditions = [Q(workspace_id=workspace_id)]
    for term in _search_terms(search):
        domains = CompanyDomain.filter(workspace_id=workspace_id, domain__icontains=term)
        conditions.append(
            Q(name__icontains=term) | Q(id__in=Subquery(domains.values("company_id")))
        )
    return Company.filter(Q(*conditions))


async def _contact_records(workspace_id: int, contacts: list[Contact]) -> list[ContactRecord]:
    identifiers = await ContactIdentifier.filter(
        workspace_id=workspace_id, contact_id__in=[contact.id for contact in contacts]
    ).order_by("id")
    identifiers_of = _group(identifiers, lambda identifier: identifier.contact_id)
    companies = await _companies_by_id(
        workspace_id, {contact.company_id for contact in contacts if contact.company_id is not None}
    )
    return [
        ContactRecord(
            contact=contact,
            identifiers=tuple(identifiers_of[contact.id]),
            company=None if contact.company_id is None else companies.get(contact.company_id),
        )
        for contact in contacts
    ]


async def _companies_by_id(workspace_id: int, ids: Collection[int]) -> dict[int, CompanyRecord]:
    companies = await Company.filter(workspace_id=workspace_id, id__in=list(ids))
    records = await _company_records(workspace_id, companies)
    return {record.company.id: record for record in records}


async def _company_records(workspace_id: int, companies: list[Company]) -> list[CompanyRecord]:
    domains = await CompanyDomain.filter(
        workspace_id=workspace_id, company_id__in=[company.id for company in companies]
    ).order_by("id")
    domains_of = _group(domains, lambda domain: domain.company_id)
    return [
        CompanyRecord(company=company, domains=tuple(d.domain for d in domains_of[company.id]))
        for company in companies
    ]


def _group(rows: Iterable[ModelT], key: Callable[[ModelT], int]) -> defaultdict[int, list[ModelT]]:
    grouped: defaultdict[int, list[ModelT]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return grouped


contact_page = _Listing(CONTACTS, _contact_search, CONTACT_ORDER, _contact_records).page
company_page = _Listing(COMPANIES, _company_search, COMPANY_ORDER, _company_records).page

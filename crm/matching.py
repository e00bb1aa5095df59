"""Matching participants' identifiers against a workspace's contacts and companies, in batches.

`resolve` answers for any number of identifiers in one query: the UNION of contact identifiers of
every kind (joined with each contact's company) and company domains. It reads only, and returns
plain frozen dataclasses the GraphQL layer can hand out as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from types import MappingProxyType
from typing import Any, TypeVar

from tortoise.connection import get_connection

from core.vocabulary import IdentifierKind, MatchMethod
from crm.caching import VersionedCache
from crm.normalize import (
    PERSONAL_EMAIL_DOMAINS,
    Identifier,
    company_domain_of_email,
    email_lookup_values,
)
from db.models import Workspace
from db.sql import placeholders

__all__ = [
    "CONFIDENCE",
    "Candidate",
    "CandidateKind",
    "Match",
    "MatchCache",
    "lookup_identifiers",
    "resolve",
    "resolve_cached",
    "resolve_conversations",
]

K = TypeVar("K", bound=Hashable)

# The original system's scale. A company reached through a matched contact (CONTACT_COMPANY) is
# known as surely as that contact, so it takes the contact's confidence instead of a fixed one.
CONFIDENCE: Mapping[MatchMethod, float] = MappingProxyType(
    {
        MatchMethod.MANUAL: 1.0,
        MatchMethod.EMAIL: 0.95,
        MatchMethod.PHONE: 0.90,
        MatchMethod.PROVIDER_ID: 0.85,
        MatchMethod.DOMAIN: 0.80,
    }
)

_METHOD_OF_KIND: Mapping[IdentifierKind, MatchMethod] = MappingProxyType(
    {
        IdentifierKind.EMAIL: MatchMethod.EMAIL,
        IdentifierKind.PHONE: MatchMethod.PHONE,
        IdentifierKind.PROVIDER_ID: MatchMethod.PROVIDER_ID,
    }
)


class CandidateKind(StrEnum):
    CONTACT = "CONTACT"
    COMPANY = "COMPANY"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A CRM record an identifier may belong to."""

    kind: CandidateKind
    id: int
    name: str
    method: MatchMethod
    confidence: float


@dataclass(frozen=True, slots=True)
class Match:
    """What an identifier matched. Several candidates of a kind make it ambiguous: no pick is made.

    `contacts` and `companies` are sorted by confidence (highest first), then id.
    """

    identifier: Identifier
    contacts: tuple[Candidate, ...] = ()
    companies: tuple[Candidate, ...] = ()
    # The connected account's own identity: never matched, never a reason to store.
    is_own: bool = False

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self.contacts + self.companies

    @property
    def primary_contact(self) -> Candidate | None:
        return self.contacts[0] if len(self.contacts) == 1 else None

    @property
    def primary_company(self) -> Candidate | None:
        return self.companies[0] if len(self.companies) == 1 else None

    @property
    def ambiguous_contact(self) -> bool:
        return len(self.contacts) > 1

    @property
    def ambiguous_company(self) -> bool:
        return len(self.companies) > 1


@dataclass(frozen=True, slots=True)
class _ContactHit:
    contact: Candidate
    company: Candidate | None


def lookup_identifiers(identifier: Identifier) -> tuple[Identifier, ...]:
    """The stored identifiers `identifier` matches, most exact first (an address, then its
    form without a `+tag`)."""
    if identifier.kind is not IdentifierKind.EMAIL:
        return (identifier,)
    return tuple(
        Identifier(identifier.kind, value) for value in email_lookup_values(identifier.value)
    )


def _workspace_id(workspace: Workspace | int) -> int:
    return workspace.id if isinstance(workspace, Workspace) else workspace


def _full_name(first_name: str, last_name: str) -> str:
    return f"{first_name} {last_name}".strip()


def _contact_hit(row: Mapping[str, Any]) -> _ContactHit:
    method = _METHOD_OF_KIND[IdentifierKind(row["kind"])]
    confidence = CONFIDENCE[method]
    name = _full_name(row["first_name"] or "", row["last_name"] or "")
    contact = Candidate(CandidateKind.CONTACT, row["contact_id"], name, method, confidence)
    company_id = row["company_id"]
    company = (
        None
        if company_id is None
        else Candidate(
            CandidateKind.COMPANY,
            company_id,
            row["company_name"],
            MatchMethod.CONTACT_COMPANY,
            confidence,
        )
    )
    return _ContactHit(contact, company)


_IDENTIFIER_ROWS = """
SELECT 'IDENTIFIER' AS row_kind, ci.kind, ci.value, ci.contact_id,
       c.first_name, c.last_name, c.company_id, co.name AS company_name
FROM contact_identifier ci
JOIN contact c ON c.id = ci.contact_id
LEFT JOIN company co ON co.id = c.company_id
WHERE ci.workspace_id = {workspace} AND ({keys})"""
_DOMAIN_ROWS = """
SELECT 'DOMAIN' AS row_kind, NULL AS kind, cd.domain AS value, NULL AS contact_id,
       NULL AS first_name, NULL AS last_name, cd.company_id, co.name AS company_name
FROM company_domain cd
JOIN company co ON co.id = cd.company_id
WHERE cd.workspace_id = {workspace} AND cd.domain IN ({domains})"""


class _Lookup:
    """One UNION query for contact identifiers (with their contacts' companies) and company
    domains, with its bind values in order."""

    def __init__(self) -> None:
        self.selects: list[str] = []
        self.values: list[Any] = []

    def _marks(self, count: int) -> list[str]:
        return placeholders(len(self.values) + 1, count)

    def identifiers(self, workspace_id: int, keys: set[Identifier]) -> None:
        by_kind: dict[IdentifierKind, list[str]] = defaultdict(list)
        for key in keys:
            by_kind[key.kind].append(key.value)
        [workspace] = self._marks(1)
        self.values.append(workspace_id)
        clauses = []
        for kind, values in sorted(by_kind.items()):
            kind_mark, *value_marks = self._marks(1 + len(values))
            self.values.extend([kind.value, *values])
            clauses.append(f"(ci.kind = {kind_mark} AND ci.value IN ({', '.join(value_marks)}))")
        self.selects.append(_IDENTIFIER_ROWS.format(workspace=workspace, keys=" OR ".join(clauses)))

    def domains(self, workspace_id: int, domains: set[str]) -> None:
        workspace, *domain_marks = self._marks(1 + len(domains))
        self.values.extend([workspace_id, *sorted(domains)])
        self.selects.append(
            _DOMAIN_ROWS.format(workspace=workspace, domains=", ".join(domain_marks))
        )

    async def rows(self) -> list[dict[str, Any]]:
        if not self.selects:
            return []
        sql = "\nUNION ALL\n".join(self.selects)
        return await get_connection("default").execute_query_dict(sql, self.values)


def _contact_hits(rows: Iterable[Mapping[str, Any]]) -> dict[Identifier, list[_ContactHit]]:
    hits: dict[Identifier, list[_ContactHit]] = defaultdict(list)
    for row in rows:
        hits[Identifier(IdentifierKind(row["kind"]), row["value"])].append(_contact_hit(row))
    return hits


def _domain_companies(rows: Iterable[Mapping[str, Any]]) -> dict[str, Candidate]:
    confidence = CONFIDENCE[MatchMethod.DOMAIN]
    return {
        row["value"]: Candidate(
            CandidateKind.COMPANY,
            row["company_id"],
            row["company_name"],
            MatchMethod.DOMAIN,
            confidence,
        )
        for row in rows
    }


def _ranked(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """One candidate per record, the most confident one, best first."""
    best: dict[int, Candidate] = {}
    for candidate in candidates:
        kept = best.get(candidate.id)
        if kept is None or candidate.confidence > kept.confidence:
            best[candidate.id] = candidate
    return tuple(sorted(best.values(), key=lambda c: (-c.confidence, c.id)))


def _best_contact_hits(
    identifier: Identifier, hits: Mapping[Identifier, list[_ContactHit]]
) -> list[_ContactHit]:
    # An exact address wins over its de-tagged form, so that `jane+billing@` kept on its own
    # contact is not made ambiguous by `jane@`.
    for key in lookup_identifiers(identifier):
        if hits.get(key):
            return hits[key]
    return []


def _match(
    identifier: Identifier,
    contact_hits: Mapping[Identifier, list[_ContactHit]],
    company_by_domain: Candidate | None,
) -> Match:
    hits = _best_contact_hits(identifier, contact_hits)
    companies = [hit.company for hit in hits if hit.company is not None]
    if company_by_domain is not None:
        companies.append(company_by_domain)
    return Match(identifier, _ranked(hit.contact for hit in hits), _ranked(companies))


def _company_domain(identifier: Identifier, personal_domains: frozenset[str]) -> str | None:
    if identifier.kind is not IdentifierKind.EMAIL:
        return None
    return company_domain_of_email(identifier.value, personal_domains)


def _is_own(identifier: Identifier, own_keys: frozenset[Identifier]) -> bool:
    return not own_keys.isdisjoint(lookup_identifiers(identifier))


def _own_keys(own_identifiers: Iterable[Identifier]) -> frozenset[Identifier]:
    return frozenset(chain.from_iterable(map(lookup_identifiers, own_identifiers)))


async def resolve(
    workspace: Workspace | int,
    identifiers: Iterable[Identifier],
    *,
    own_identifiers: Iterable[Identifier] = (),
    personal_domains: frozenset[str] = PERSONAL_EMAIL_DOMAINS,
) -> dict[Identifier, Match]:
    """A `Match` for each identifier, in one query however many there are (none for none).

    Identifiers must be normalised (`crm.normalize`). One of `own_identifiers` (the connected
    accounts' own addresses and numbers, with or without a `+tag`) never matches anything.
    Addresses at `personal_domains` match contacts but no company by domain.
    """
    workspace_id = _workspace_id(workspace)
    own_keys = _own_keys(own_identifiers)
    wanted = set(identifiers)
    others = [identifier for identifier in wanted if not _is_own(identifier, own_keys)]
    keys = set(chain.from_iterable(map(lookup_identifiers, others)))
    domain_of = {identifier: _company_domain(identifier, personal_domains) for identifier in others}
    domains = {domain for domain in domain_of.values() if domain is not None}
    lookup = _Lookup()
    if keys:
        lookup.identifiers(workspace_id, keys)
    if domains:
        lookup.domains(workspace_id, domains)
    rows = await lookup.rows()
    contact_hits = _contact_hits(row for row in rows if row["row_kind"] == "IDENTIFIER")
    domain_companies = _domain_companies(row for row in rows if row["row_kind"] == "DOMAIN")
    matches = {
        identifier: _match(
            identifier, contact_hits, None if domain is None else domain_companies.get(domain)
        )
        for identifier, domain in domain_of.items()
    }
    own = {identifier: Match(identifier, is_own=True) for identifier in wanted - set(others)}
    return matches | own


# A workspace's matches by identifier, without the viewer's own identities: those are told apart
# per request, since whose they are depends on who reads.
MatchCache = VersionedCache[tuple[int, Identifier], Match]


async def resolve_cached(
    workspace_id: int,
    identifiers: Iterable[Identifier],
    *,
    own_identifiers: Iterable[Identifier],
    cache: MatchCache,
    versions: tuple[int, ...],
) -> dict[Identifier, Match]:
    """What `resolve` answers, the matches kept under `versions` (the workspace's
    `crm.caching.Kept.CRM_RECORDS`) taken from `cache` and the others read in one query."""
    own_keys = _own_keys(own_identifiers)
    wanted = set(identifiers)
    own = {identifier for identifier in wanted if _is_own(identifier, own_keys)}
    found: dict[Identifier, Match] = {}
    missing = []
    for identifier in wanted - own:
        kept = cache.get((workspace_id, identifier), versions)
        if kept is None:
            missing.append(identifier)
        else:
            found[identifier] = kept
    if missing:
        read = await resolve(workspace_id, missing)
        for identifier, match in read.items():
            cache.put((workspace_id, identifier), versions, match)
        found |= read
    return found | {identifier: Match(identifier, is_own=True) for identifier in own}


async def resolve_conversations(
    workspace: Workspace | int,
    participants: Mapping[K, Iterable[Identifier]],
    *,
    own_identifiers: Iterable[Identifier] = (),
    personal_domains: frozenset[str] = PERSONAL_EMAIL_DOMAINS,
) -> dict[K, tuple[Match, ...]]:
    """The matches of each conversation's participants (in their order, once each), for a whole
    page of conversations in the queries of one `resolve`."""
    ordered = {key: tuple(dict.fromkeys(identifiers)) for key, identifiers in participants.items()}
    matches = await resolve(
        workspace,
        chain.from_iterable(ordered.values()),
        own_identifiers=own_identifiers,
        personal_domains=personal_domains,
    )
    return {key: tuple(matches[i] for i in identifiers) for key, identifiers in ordered.items()}

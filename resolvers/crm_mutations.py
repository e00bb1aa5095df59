"""Writing the CRM: contacts, companies, storage rules, and re-matching stored conversations.

Every write is checked in full before anything is written (identifiers normalised, ids resolved in
the viewer's workspace), then made in one transaction. Another workspace's record is reported
exactly like a missing one, so that ids reveal nothing across workspaces.

When a contact gains identifiers or a company gains domains, the stored conversations of the
workspace that now match it get a MATCHER link, in the same transaction and in a fixed number of
queries (see `_link_stored_conversations`). Live conversations need nothing: their matches are
computed on every read, so the next read already reports them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from strawberry import Maybe, Some
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import BadUserInput, Conflict, NotFound
from crm import (
    Candidate,
    CandidateKind,
    Identifier,
    Rejected,
    StorageRules,
    classify_participant,
    load_storage_rules,
    normalize_never_store_value,
    records,
    resolve,
)
from crm.normalize import unicode_host
from crm.records import IDENTIFIER_FIELDS, MAX_LIST_LENGTH
from db.models import (
    Account,
    Company,
    CompanyDomain,
    Contact,
    ContactIdentifier,
    ConversationLink,
    NeverStoreEntry,
    StoragePolicySetting,
    Workspace,
)
from db.sql import placeholders
from db.vocabulary import (
    Channel,
    IdentifierKind,
    LinkSource,
    NeverStoreKind,
    StoragePolicy,
)
from resolvers.context import Context
from resolvers.conversations import conversation_by_key, conversation_key
from resolvers.crm import CompanyByIdLoader, CompanyRecord, ContactByIdLoader, ContactRecord
from schema.ids import from_global_id, int_key

__all__ = [
    "IDENTIFIER_FIELDS",
    "MAX_LIST_LENGTH",
    "CompanyChanges",
    "ContactChanges",
    "ParticipantContact",
    "add_never_store",
    "create_company",
    "create_contact",
    "create_contact_from_participant",
    "delete_company",
    "delete_contact",
    "remove_never_store",
    "set_storage_policy",
    "update_company",
    "update_contact",
]

ConversationKey = tuple[int, str]


@dataclass(frozen=True, slots=True)
class ContactChanges:
    """A contact's fields as a create or update sets them.

    On update, `None` names and an absent (`None`) `company_id` leave the field as it is, while
    `Some(None)` clears the company; only the kinds present in `identifiers` are replaced.
    """

    first_name: str | None = None
    last_name: str | None = None
    company_id: Maybe[str | None] = None
    identifiers: Mapping[IdentifierKind, Sequence[str]] = field(default_factory=dict)
    # Like `company_id`: absent leaves it, `Some(None)` clears it.
    external_id: Maybe[str | None] = None


@dataclass(frozen=True, slots=True)
class CompanyChanges:
    """A company's fields as a create or update sets them; `None` leaves a field as it is."""

    name: str | None = None
    domains: Sequence[str] | None = None
    # Absent leaves it, `Some(None)` clears it.
    external_id: Maybe[str | None] = None


@dataclass(frozen=True, slots=True)
class ParticipantContact:
    """A new contact for someone in a conversation, named by the participant's identifier."""

    conversation_id: str
    identifier: str
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    company_id: str | None = None


# -- contacts ---------------------------------------------------------------------------------


async def create_contact(context: Context, changes: ContactChanges) -> ContactRecord:
    workspace_id = context.viewer().workspace_id
    region = await _region(workspace_id)
    identifiers = records.normalised_identifiers(changes.identifiers, region)
    first_name = records.name(changes.first_name or "", "firstName")
    last_name = records.name(changes.last_name or "", "lastName")
    company_id = await _company_id(workspace_id, changes.company_id)
    external_id = await _free_external_id(Contact, workspace_id, None, changes.external_id)
    async with in_transaction():
        contact = await Contact.create(
            workspace_id=workspace_id,
            first_name=first_name,
            last_name=last_name,
            company_id=company_id,
            external_id=external_id,
        )
        added = await _replace_identifiers(workspace_id, contact.id, identifiers)
        await _link_stored_conversations(
            workspace_id, region, CandidateKind.CONTACT, contact.id, identifiers=added
        )
    return await _contact_record(workspace_id, contact.id)


async def update_contact(
    context: Context, global_id: str, changes: ContactChanges
) -> ContactRecord:
    workspace_id = context.viewer().workspace_id
    contact = await _contact(workspace_id, global_id)
    region = await _region(workspace_id)
    identifiers = records.normalised_identifiers(changes.identifiers, region)
    updates: dict[str, Any] = {}
    if changes.first_name is not None:
        updates["first_name"] = records.name(changes.first_name, "firstName")
    if changes.last_name is not None:
        updates["last_name"] = records.name(changes.last_name, "lastName")
    if changes.company_id is not None:
        updates["company_id"] = await _company_id(workspace_id, changes.company_id)
    if changes.external_id is not None:
        updates["external_id"] = await _free_external_id(
            Contact, workspace_id, contact.id, changes.external_id
        )
    async with in_transaction():
        if updates or identifiers:
            contact.update_from_dict(updates)
            # `updated_at` is `auto_now`: it changes only when it is among the fields saved.
            await contact.save(update_fields=[*updates, "updated_at"])
        added = await _replace_identifiers(workspace_id, contact.id, identifiers)
        await _link_stored_conversations(
            workspace_id, region, CandidateKind.CONTACT, contact.id, identifiers=added
        )
    return await _contact_record(workspace_id, contact.id)


async def delete_contact(context: Context, global_id: str) -> str:
    """Delete a contact; its identifiers and links go with it (the foreign keys cascade)."""
    workspace_id = context.require_admin().workspace_id
    pk = _pk(global_id, "Contact", "id")
    if not await Contact.filter(workspace_id=workspace_id, id=pk).delete():
        raise NotFound("no such contact", argument="id")
    return global_id


async def create_contact_from_participant(
    context: Context, given: ParticipantContact
) -> ContactRecord:
    """A contact for a participant of a conversation, as the inbox shows it now (read live)."""
    try:
        type_name, key = from_global_id(given.conversation_id)
    except BadUserInput as error:
        raise BadUserInput(str(error), argument="conversationId") from None
    parsed = conversation_key(key) if type_name == "Conversation" else None
    conversation = None if parsed is None else await conversation_by_key(context, *parsed)
    if conversation is None:
        raise NotFound("no such conversation", argument="conversationId")
    wanted = given.identifier.strip()
    participant = next(
        (p for p in conversation.participants if p.identifier.strip() == wanted and not p.is_self),
        None,
    )
    if participant is None:
        raise BadUserInput("not a participant of this conversation", argument="identifier")
    scope = await context.scope()
    identifier = classify_participant(
        participant.identifier, participant.identifier_type, region=scope.region
    )
    if isinstance(identifier, Rejected):
        raise BadUserInput(
            "this participant is not a person who can be a contact",
            argument="identifier",
            reason=identifier.reason.value,
        )
    first_name, last_name = _participant_names(given, participant.display_name)
    changes = ContactChanges(
        first_name=first_name,
        last_name=last_name,
        company_id=Some(given.company_id),
        # The normalised value, so that the contact holds exactly what this participant is
        # matched by (a WhatsApp JID becomes its phone number).
        identifiers={identifier.kind: [identifier.value]},
    )
    return await create_contact(context, changes)


def _participant_names(given: ParticipantContact, display_name: str | None) -> tuple[str, str]:
    """The names given, else `name`, else the participant's display name, split at the first
    space ("Jean de La Fontaine" → "Jean", "de La Fontaine")."""
    if given.first_name is not None or given.last_name is not None:
        return given.first_name or "", given.last_name or ""
    first, _, last = (given.name or display_name or "").strip().partition(" ")
    return first, last.strip()


async def _contact(workspace_id: int, global_id: str) -> Contact:
    pk = _pk(global_id, "Contact", "id")
    contact = await Contact.get_or_none(workspace_id=workspace_id, id=pk)
    if contact is None:
        raise NotFound("no such contact", argument="id")
    return contact


async def _contact_record(workspace_id: int, contact_id: int) -> ContactRecord:
    record = await ContactByIdLoader(workspace_id).load(contact_id)
    if record is None:
        raise NotFound("the contact was deleted meanwhile", argument="id")
    return record


async def _replace_identifiers(
    workspace_id: int, contact_id: int, identifiers: records.Normalised
) -> list[Identifier]:
    """Make the contact's identifiers of each kind given exactly those; returns those added.

    An identifier kept keeps its row and the spelling first entered.
    """
    if not identifiers:
        return []
    current = await ContactIdentifier.filter(contact_id=contact_id, kind__in=list(identifiers))
    gone = [row.id for row in current if row.value not in identifiers[row.kind]]
    if gone:
        await ContactIdentifier.filter(id__in=gone).delete()
    kept = {Identifier(row.kind, row.value) for row in current}
    added = {
        Identifier(kind, value): original
        for kind, values in identifiers.items()
        for value, original in values.items()
        if Identifier(kind, value) not in kept
    }
    await ContactIdentifier.bulk_create(
        ContactIdentifier(
            workspace_id=workspace_id,
            contact_id=contact_id,
            kind=identifier.kind,
            value=identifier.value,
            original=original,
        )
        for identifier, original in added.items()
    )
    return list(added)


# -- companies --------------------------------------------------------------------------------


async def create_company(context: Context, changes: CompanyChanges) -> CompanyRecord:
    workspace_id = context.viewer().workspace_id
    name = _company_name(changes.name or "")
    domains = await _free_domains(workspace_id, None, changes.domains or ())
    external_id = await _free_external_id(Company, workspace_id, None, changes.external_id)
    async with _domain_races_reported(), in_transaction():
        company = await Company.create(
            workspace_id=workspace_id, name=name, external_id=external_id
        )
        added = await _replace_domains(workspace_id, company.id, domains)
        await _link_stored_conversations(
            workspace_id, None, CandidateKind.COMPANY, company.id, domains=added
        )
    return await _company_record(workspace_id, company.id)


async def update_company(
    context: Context, global_id: str, changes: CompanyChanges
) -> CompanyRecord:
    workspace_id = context.viewer().workspace_id
    company = await _company(workspace_id, global_id)
    name = None if changes.name is None else _company_name(changes.name)
    domains = (
        None
        if changes.domains is None
        else await _free_domains(workspace_id, company.id, changes.domains)
    )
    updates: dict[str, Any] = {}
    if name is not None:
        updates["name"] = name
    if changes.external_id is not None:
        updates["external_id"] = await _free_external_id(
            Company, workspace_id, company.id, changes.external_id
        )
    async with _domain_races_reported(), in_transaction():
        if updates:
            company.update_from_dict(updates)
            await company.save(update_fields=[*updates, "updated_at"])
        if domains is not None:
            added = await _replace_domains(workspace_id, company.id, domains)
            await _link_stored_conversations(
                workspace_id, None, CandidateKind.COMPANY, company.id, domains=added
            )
    return await _company_record(workspace_id, company.id)


async def delete_company(context: Context, global_id: str) -> str:
    """Delete a company: its domains and links go with it, its contacts stay without company."""
    workspace_id = context.require_admin().workspace_id
    pk = _pk(global_id, "Company", "id")
    if not await Company.filter(workspace_id=workspace_id, id=pk).delete():
        raise NotFound("no such company", argument="id")
    return global_id


async def _company(workspace_id: int, global_id: str) -> Company:
    company = await Company.get_or_none(
        workspace_id=workspace_id, id=_pk(global_id, "Company", "id")
    )
    if company is None:
        raise NotFound("no such company", argument="id")
    return company


async def _company_id(workspace_id: int, given: Maybe[str | None]) -> int | None:
    """The key of a company of the workspace named by `companyId`, or None for no company."""
    if given is None or given.value is None:
        return None
    pk = _pk(given.value, "Company", "companyId")
    if not await Company.exists(workspace_id=workspace_id, id=pk):
        raise NotFound("no such company", argument="companyId")
    return pk


async def _company_record(workspace_id: int, company_id: int) -> CompanyRecord:
    record = await CompanyByIdLoader(workspace_id).load(company_id)
    if record is None:
        raise NotFound("the company was deleted meanwhile", argument="id")
    return record


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


# -- storage rules ----------------------------------------------------------------------------


async def set_storage_policy(
    context: Context, channel: Channel, policy: StoragePolicy
) -> StorageRules:
    workspace_id = context.require_admin().workspace_id
    # An upsert, so that two concurrent calls cannot both insert.
    await StoragePolicySetting.bulk_create(
        [StoragePolicySetting(workspace_id=workspace_id, channel=channel, policy=policy)],
        on_conflict=["workspace_id", "channel"],
        update_fields=["policy"],
    )
    return await load_storage_rules(workspace_id)


async def add_never_store(context: Context, kind: NeverStoreKind, raw: str) -> StorageRules:
    """Idempotent: an entry already on the list stays as it is."""
    workspace_id = context.require_admin().workspace_id
    value = await _never_store_value(workspace_id, kind, raw)
    await NeverStoreEntry.bulk_create(
        [NeverStoreEntry(workspace_id=workspace_id, kind=kind, value=value)],
        ignore_conflicts=True,
    )
    return await load_storage_rules(workspace_id)


async def remove_never_store(context: Context, kind: NeverStoreKind, raw: str) -> StorageRules:
    """Idempotent: removing an entry that is not on the list changes nothing."""
    workspace_id = context.require_admin().workspace_id
    value = await _never_store_value(workspace_id, kind, raw)
    await NeverStoreEntry.filter(workspace_id=workspace_id, kind=kind, value=value).delete()
    return await load_storage_rules(workspace_id)


async def _never_store_value(workspace_id: int, kind: NeverStoreKind, raw: str) -> str:
    value = normalize_never_store_value(kind, raw, region=await _region(workspace_id))
    if isinstance(value, Rejected):
        raise BadUserInput(f"{raw!r} is not a valid {kind.value.lower()}", argument="value")
    return value


# -- re-matching stored conversations ---------------------------------------------------------
#
# `ConversationParticipant.identifier` holds what UniPile sent (`Jane.Doe@Acme.com`,
# `33612345678@s.whatsapp.net`, `+33 6 12 34 56 78`), not the normalised form, so no index finds
# a normalised value. One query selects a superset of the rows that can match, by patterns that
# every spelling of a value satisfies; each row is then classified in Python exactly as the inbox
# classifies a live participant, and `crm.resolve` decides what it matches, by the same rules as
# a read (an exact address before its untagged form, the accounts' own identities never). At most
# six queries, however many identifiers and conversations: the candidates, the workspace's own
# identifiers, `resolve` (one or two), the target's existing links, the insert.

_CANDIDATES_SQL = """
SELECT c.account_id, c.external_id, p.identifier, p.identifier_type
FROM conversation_participant p
JOIN conversation c ON c.id = p.conversation_id
WHERE c.workspace_id = {workspace} AND NOT p.is_self AND ({conditions})
"""
_LIKE_LOWER = "LOWER(p.identifier) LIKE {} ESCAPE '\\'"
# The participant's identifier without phone punctuation, in SQL both SQLite and PostgreSQL run.
_PHONE_DIGITS = (
    "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE("
    "p.identifier, ' ', ''), '-', ''), '(', ''), ')', ''), '.', ''), '/', '') LIKE {}"
)
_PROVIDER_ID = "TRIM(p.identifier) = {}"


def _like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern escaped with a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _host_spellings(host: str) -> list[str]:
    """A normalised (punycode) host, and its Unicode form if it differs: UniPile gives an
    address as it was received, in either."""
    unicode = unicode_host(host)
    return [host] if unicode == host else [host, unicode]


def _email_patterns(address: str) -> list[str]:
    """LIKE patterns every lower-cased spelling of a participant matching `address` satisfies:
    the address itself and, for an address without a tag, its tagged forms (`jane+x@`)."""
    local, _, host = address.rpartition("@")
    locals_ = [_like(local)] if "+" in local else [_like(local), f"{_like(local)}+%"]
    return [f"{part}@{_like(spelling)}" for spelling in _host_spellings(host) for part in locals_]


def _candidate_conditions(
    identifiers: Sequence[Identifier], domains: Sequence[str]
) -> list[tuple[str, str]]:
    """(SQL condition with one `{}` for its parameter, parameter) for every pattern."""
    conditions: list[tuple[str, str]] = []
    for identifier in identifiers:
        if identifier.kind is IdentifierKind.EMAIL:
            conditions += [(_LIKE_LOWER, p) for p in _email_patterns(identifier.value)]
        elif identifier.kind is IdentifierKind.PHONE:
            # Every spelling of a number (E.164, national with a trunk prefix, a WhatsApp JID)
            # holds its national significant number as a run of digits once punctuation is gone.
            number = phonenumbers.parse(identifier.value)
            significant = phonenumbers.national_significant_number(number)
            conditions.append((_PHONE_DIGITS, f"%{significant}%"))
        else:
            conditions.append((_PROVIDER_ID, identifier.value))
    for domain in domains:
        # Addresses at the domain or at any of its subdomains.
        for spelling in map(_like, _host_spellings(domain)):
            conditions += [(_LIKE_LOWER, f"%@{spelling}"), (_LIKE_LOWER, f"%.{spelling}")]
    return conditions


async def _candidate_participants(
    workspace_id: int, identifiers: Sequence[Identifier], domains: Sequence[str]
) -> list[dict[str, Any]]:
    conditions = _candidate_conditions(identifiers, domains)
    marks = placeholders(1, len(conditions) + 1)
    sql = _CANDIDATES_SQL.format(
        workspace=marks[0],
        conditions=" OR ".join(
            template.format(mark) for (template, _), mark in zip(conditions, marks[1:], strict=True)
        ),
    )
    parameters = [workspace_id, *(parameter for _, parameter in conditions)]
    return await get_connection("default").execute_query_dict(sql, parameters)


async def _own_identifiers(workspace_id: int) -> list[Identifier]:
    """The workspace's connected accounts' own addresses and numbers: never a match."""
    lists = await Account.filter(workspace_id=workspace_id).values_list(
        "own_identifiers", flat=True
    )
    return [
        Identifier(IdentifierKind(entry["kind"]), str(entry["value"]))
        for entries in lists
        for entry in entries
    ]


async def _link_stored_conversations(
    workspace_id: int,
    region: str | None,
    target: CandidateKind,
    target_id: int,
    *,
    identifiers: Sequence[Identifier] = (),
    domains: Sequence[str] = (),
) -> None:
    """Link `target` to every stored conversation of the workspace one of whose participants it
    now matches through new `identifiers` (a contact's) or `domains` (a company's), except where
    a user removed such a link (a tombstone) or a link already exists.

    `region` reads national phone numbers; a company matches by email only, so it needs none.
    """
    if not identifiers and not domains:
        return
    rows = await _candidate_participants(workspace_id, identifiers, domains)
    conversations_of: defaultdict[Identifier, set[ConversationKey]] = defaultdict(set)
    for row in rows:
        identifier = classify_participant(row["identifier"], row["identifier_type"], region=region)
        if not isinstance(identifier, Rejected):
            conversations_of[identifier].add((row["account_id"], row["external_id"]))
    if not conversations_of:
        return
    matches = await resolve(
        workspace_id, conversations_of, own_identifiers=await _own_identifiers(workspace_id)
    )
    # The most confident way each conversation matches the target.
    rule: dict[ConversationKey, Candidate] = {}
    for identifier, keys in conversations_of.items():
        for candidate in matches[identifier].candidates:
            if candidate.kind is not target or candidate.id != target_id:
                continue
            for key in keys:
                if key not in rule or candidate.confidence > rule[key].confidence:
                    rule[key] = candidate
    target_field = "contact_id" if target is CandidateKind.CONTACT else "company_id"
    linked = await ConversationLink.filter(
        workspace_id=workspace_id, **{target_field: target_id}
    ).values_list("account_id", "conversation_external_id")
    for key in linked:
        rule.pop((key[0], key[1]), None)
    await ConversationLink.bulk_create(
        (
            ConversationLink(
                workspace_id=workspace_id,
                account_id=account_id,
                conversation_external_id=external_id,
                source=LinkSource.MATCHER,
                rule=candidate.method,
                **{target_field: target_id},
            )
            for (account_id, external_id), candidate in rule.items()
        ),
        # A link made meanwhile by a user or by a concurrent re-match wins.
        ignore_conflicts=True,
    )


# -- shared -----------------------------------------------------------------------------------


async def _free_external_id(
    model: type[Contact] | type[Company],
    workspace_id: int,
    own_id: int | None,
    given: Maybe[str | None],
) -> str | None:
    """The external id given, checked and held by no other record of the workspace."""
    if given is None or given.value is None:
        return None
    value = records.external_id(given.value)
    holders = model.filter(workspace_id=workspace_id, external_id=value)
    if own_id is not None:
        holders = holders.exclude(id=own_id)
    if await holders.exists():
        raise Conflict(
            f"another {model.__name__.lower()} has the external id {value!r}",
            argument="externalId",
        )
    return value


def _pk(global_id: str, type_name: str, argument: str) -> int:
    try:
        return int_key(global_id, type_name)
    except BadUserInput as error:
        raise BadUserInput(str(error), argument=argument) from None


async def _region(workspace_id: int) -> str:
    """The workspace's default region, which reads phone numbers written without a country."""
    region = await Workspace.filter(id=workspace_id).values_list("default_region", flat=True)
    return str(region[0])

"""Writing the CRM: contacts, companies, storage rules, and re-matching stored conversations.

Every write is checked in full before anything is written (identifiers normalised, ids resolved in
the viewer's workspace), then made in one transaction. Another workspace's record is reported
exactly like a missing one, so that ids reveal nothing across workspaces.

When a contact gains identifiers or a company gains domains, the stored conversations of the
workspace that now match it get a MATCHER link, in the same transaction and in a fixed number of
queries (`crm.rematch.link_stored_conversations`). Live conversations need nothing: their matches
are computed on every read, so the next read already reports them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from strawberry import Maybe, Some
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import BadUserInput, Conflict, NotFound
from core.ids import from_global_id, int_key
from core.vocabulary import (
    Channel,
    IdentifierKind,
    NeverStoreKind,
    StoragePolicy,
)
from crm import (
    CandidateKind,
    Identifier,
    Rejected,
    StorageRules,
    classify_participant,
    load_storage_rules,
    normalize_never_store_value,
    records,
)
from crm.reading import CompanyRecord, ContactRecord
from crm.records import IDENTIFIER_FIELDS, MAX_LIST_LENGTH
from crm.rematch import link_stored_conversations
from db.models import (
    Company,
    CompanyDomain,
    Contact,
    ContactIdentifier,
    NeverStoreEntry,
    StoragePolicySetting,
    Workspace,
)
from inbox.conversations import conversation_key
from resolvers.context import Context
from resolvers.conversations import conversation_by_key

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
        await link_stored_conversations(
            workspace_id, region, CandidateKind.CONTACT, contact.id, identifiers=added
        )
    return await _contact_record(context, contact.id)


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
        await link_stored_conversations(
            workspace_id, region, CandidateKind.CONTACT, contact.id, identifiers=added
        )
    return await _contact_record(context, contact.id)


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


async def _contact_record(context: Context, contact_id: int) -> ContactRecord:
    # Cleared first: the request's loader may hold the contact as it was before this mutation.
    loader = (await context.loaders()).contact_by_id
    record = await loader.clear(contact_id).load(contact_id)
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
        await link_stored_conversations(
            workspace_id, None, CandidateKind.COMPANY, company.id, domains=added
        )
    return await _company_record(context, company.id)


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
            await link_stored_conversations(
                workspace_id, None, CandidateKind.COMPANY, company.id, domains=added
            )
    return await _company_record(context, company.id)


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


async def _company_record(context: Context, company_id: int) -> CompanyRecord:
    loader = (await context.loaders()).company_by_id
    record = await loader.clear(company_id).load(company_id)
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

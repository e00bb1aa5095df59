"""The CRM's mutations as GraphQL resolves them: ids parsed into keys, admins checked, the write
made by the domain (`crm.contacts`, `crm.companies`, `crm.participants`, `crm.storage_rules`),
the record read back through the request's loaders.

An id that does not parse is reported against the argument that gave it; one of another
workspace, by the domain, exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from aiodataloader import DataLoader

from core.errors import BadUserInput, NotFound
from core.ids import from_global_id, int_key
from core.vocabulary import Channel, NeverStoreKind, StoragePolicy
from crm import StorageRules, companies, contacts, participants, storage_rules
from crm.companies import CompanyChanges
from crm.contacts import ContactChanges
from crm.reading import CompanyRecord, ContactRecord
from crm.writing import KEEP, Keep
from inbox.conversations import conversation_key
from resolvers.context import Context
from resolvers.conversations import conversation_by_key
from resolvers.crm_upserts import company_key

__all__ = [
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

RecordT = TypeVar("RecordT", ContactRecord, CompanyRecord)


@dataclass(frozen=True, slots=True)
class ParticipantContact:
    """A new contact for someone in a conversation, named by the participant's identifier."""

    conversation_id: str
    identifier: str
    names: participants.ParticipantNames
    company_id: str | None = None


# -- contacts ---------------------------------------------------------------------------------


async def create_contact(
    context: Context, changes: ContactChanges, company_id: str | None
) -> ContactRecord:
    workspace_id = context.viewer().workspace_id
    pk = await contacts.create_contact(workspace_id, changes, _company(company_id))
    return await _read_back((await context.loaders()).contact_by_id, pk, "contact")


async def update_contact(
    context: Context, global_id: str, changes: ContactChanges, company_id: str | Keep | None
) -> ContactRecord:
    """`company_id` None takes the contact out of its company, KEEP leaves it."""
    workspace_id = context.viewer().workspace_id
    pk = _pk(global_id, "Contact", "id")
    company = KEEP if company_id is KEEP else _company(company_id)
    await contacts.update_contact(workspace_id, pk, changes, company)
    return await _read_back((await context.loaders()).contact_by_id, pk, "contact")


async def delete_contact(context: Context, global_id: str) -> str:
    workspace_id = context.require_admin().workspace_id
    await contacts.delete_contact(workspace_id, _pk(global_id, "Contact", "id"))
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
    pk = await participants.create_participant_contact(
        context.viewer().workspace_id,
        scope.region,
        participants.Participant(
            participant.identifier, participant.identifier_type, participant.display_name
        ),
        given.names,
        _company(given.company_id),
    )
    return await _read_back((await context.loaders()).contact_by_id, pk, "contact")


# -- companies --------------------------------------------------------------------------------


async def create_company(context: Context, changes: CompanyChanges) -> CompanyRecord:
    pk = await companies.create_company(context.viewer().workspace_id, changes)
    return await _read_back((await context.loaders()).company_by_id, pk, "company")


async def update_company(
    context: Context, global_id: str, changes: CompanyChanges
) -> CompanyRecord:
    workspace_id = context.viewer().workspace_id
    pk = _pk(global_id, "Company", "id")
    await companies.update_company(workspace_id, pk, changes)
    return await _read_back((await context.loaders()).company_by_id, pk, "company")


async def delete_company(context: Context, global_id: str) -> str:
    workspace_id = context.require_admin().workspace_id
    await companies.delete_company(workspace_id, _pk(global_id, "Company", "id"))
    return global_id


# -- storage rules ----------------------------------------------------------------------------


async def set_storage_policy(
    context: Context, channel: Channel, policy: StoragePolicy
) -> StorageRules:
    """A channel's policy, the last of the rules: like a change of the rules, it is audited and
    followed by a sweep of the conversations it may now store."""
    identity = context.require_admin()
    rules = await storage_rules.set_storage_policy(
        identity.workspace_id, channel, policy, identity.user_id
    )
    await context.services.sweeper.request(identity.workspace_id)
    return rules


async def add_never_store(context: Context, kind: NeverStoreKind, raw: str) -> StorageRules:
    identity = context.require_admin()
    return await storage_rules.add_never_store(identity.workspace_id, kind, raw, identity.user_id)


async def remove_never_store(context: Context, kind: NeverStoreKind, raw: str) -> StorageRules:
    identity = context.require_admin()
    return await storage_rules.remove_never_store(
        identity.workspace_id, kind, raw, identity.user_id
    )


# -- shared -----------------------------------------------------------------------------------


def _company(global_id: str | None) -> int | None:
    return None if global_id is None else company_key(global_id)


async def _read_back(loader: DataLoader[int, RecordT | None], pk: int, kind: str) -> RecordT:
    # Cleared first: the request's loader may hold the record as it was before this mutation.
    [record] = await loader.clear(pk).load_many([pk])
    if record is None:
        raise NotFound(f"the {kind} was deleted meanwhile", argument="id")
    return record


def _pk(global_id: str, type_name: str, argument: str) -> int:
    try:
        return int_key(global_id, type_name)
    except BadUserInput as error:
        raise BadUserInput(str(error), argument=argument) from None

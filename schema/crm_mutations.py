"""The CRM's mutations: contacts, companies, and the workspace's storage rules.

Relay style: one `input` argument and a payload holding the result, or `error` when the call did
nothing for an expected reason (see `schema.mutation_errors`). The root `Mutation` inherits these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from strawberry.types import Info

from core import vocabulary
from core.errors import BadUserInput, SwitchboardError, Unauthenticated
from core.vocabulary import IdentifierKind
from crm import StorageRules as Rules
from crm import records, upserts
from crm.companies import CompanyChanges
from crm.contacts import ContactChanges
from crm.participants import ParticipantNames
from crm.reading import CompanyRecord, ContactRecord
from crm.writing import KEEP, Keep
from resolvers import crm_mutations, crm_upserts
from resolvers.context import Context
from schema.crm import Company, Contact
from schema.inputs import IDENTIFIER_LENGTH, NAME_LENGTH, URL_LENGTH, bounds, check
from schema.mutation_errors import MutationError
from schema.rules import StorageRule

T = TypeVar("T")
RecordT = TypeVar("RecordT", ContactRecord, CompanyRecord)
ResultT = TypeVar("ResultT")

# Registered here, under their vocabulary names, since only these mutations expose them; the
# fields below are annotated with the vocabulary's own classes, which mypy knows as types.
strawberry.enum(vocabulary.StoragePolicy, description="What happens to a matching conversation.")
strawberry.enum(vocabulary.NeverStoreKind, description="What a never-store entry names.")

LISTS = f"Each list holds at most {records.MAX_LIST_LENGTH} entries."
NAME = bounds(NAME_LENGTH)
IDENTIFIERS = bounds(IDENTIFIER_LENGTH, max_items=records.MAX_LIST_LENGTH)
DOMAINS = bounds(URL_LENGTH, max_items=records.MAX_LIST_LENGTH)
EXTERNAL_ID = bounds(records.EXTERNAL_ID_LENGTH)
EXTERNAL_ID_DESCRIPTION = (
    "The CRM's own id of the record: 1 to 255 characters once trimmed, no control characters, "
    "unique in the workspace (another record's is a CONFLICT)."
)


@strawberry.input(description=f"A new contact. {LISTS}")
class CreateContactInput:
    first_name: str = strawberry.field(metadata=NAME)
    last_name: str = strawberry.field(metadata=NAME)
    company_id: strawberry.ID | None = None
    emails: list[str] = strawberry.field(default_factory=list, metadata=IDENTIFIERS)
    phones: list[str] = strawberry.field(
        default_factory=list,
        description="In any spelling; numbers without a country code are read in the "
        "workspace's default region.",
        metadata=IDENTIFIERS,
    )
    provider_ids: list[str] = strawberry.field(default_factory=list, metadata=IDENTIFIERS)
    external_id: str | None = strawberry.field(
        default=None, description=EXTERNAL_ID_DESCRIPTION, metadata=EXTERNAL_ID
    )


@strawberry.input(
    description="Changes to a contact: a field left out stays as it is; a list given replaces "
    f"that kind of identifier entirely. {LISTS}"
)
class UpdateContactInput:
    id: strawberry.ID
    first_name: strawberry.Maybe[str] = strawberry.field(metadata=NAME)
    last_name: strawberry.Maybe[str] = strawberry.field(metadata=NAME)
    company_id: strawberry.Maybe[strawberry.ID | None] = strawberry.field(
        description="null removes the contact from its company."
    )
    emails: strawberry.Maybe[list[str]] = strawberry.field(metadata=IDENTIFIERS)
    phones: strawberry.Maybe[list[str]] = strawberry.field(metadata=IDENTIFIERS)
    provider_ids: strawberry.Maybe[list[str]] = strawberry.field(metadata=IDENTIFIERS)
    external_id: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{EXTERNAL_ID_DESCRIPTION} null removes it.", metadata=EXTERNAL_ID
    )


@strawberry.input
class DeleteContactInput:
    id: strawberry.ID


@strawberry.input(description=f"A new company. {LISTS}")
class CreateCompanyInput:
    name: str = strawberry.field(metadata=NAME)
    domains: list[str] = strawberry.field(
        default_factory=list,
        description="Domains or URLs, kept as registrable domains (`www.acme.co.uk` → "
        "`acme.co.uk`); each may belong to one company of the workspace only.",
        metadata=DOMAINS,
    )
    external_id: str | None = strawberry.field(
        default=None, description=EXTERNAL_ID_DESCRIPTION, metadata=EXTERNAL_ID
    )


@strawberry.input(description="Changes to a company: a field left out stays as it is.")
class UpdateCompanyInput:
    id: strawberry.ID
    name: strawberry.Maybe[str] = strawberry.field(metadata=NAME)
    domains: strawberry.Maybe[list[str]] = strawberry.field(
        description="Replaces the company's domains.", metadata=DOMAINS
    )
    external_id: strawberry.Maybe[str | None] = strawberry.field(
        description=f"{EXTERNAL_ID_DESCRIPTION} null removes it.", metadata=EXTERNAL_ID
    )


@strawberry.input
class DeleteCompanyInput:
    id: strawberry.ID


@strawberry.input(
    description="A contact for someone in a conversation. Named by `firstName`/`lastName` if "
    "either is given, else by `name`, else by the participant's display name."
)
class CreateContactFromParticipantInput:
    conversation_id: strawberry.ID
    identifier: str = strawberry.field(
        description="The participant's `identifier`, as the conversation shows it.",
        metadata=bounds(IDENTIFIER_LENGTH),
    )
    first_name: str | None = strawberry.field(default=None, metadata=NAME)
    last_name: str | None = strawberry.field(default=None, metadata=NAME)
    name: str | None = strawberry.field(
        default=None,
        description="A full name, split at its first space.",
        # A first and a last name, and the space between them.
        metadata=bounds(2 * NAME_LENGTH + 1),
    )
    company_id: strawberry.ID | None = None


@strawberry.input
class SetStoragePolicyInput:
    channel: vocabulary.Channel
    policy: vocabulary.StoragePolicy


@strawberry.input(
    description="An address, a phone number, or a domain (which covers its subdomains)."
)
class NeverStoreInput:
    kind: vocabulary.NeverStoreKind
    # A domain may be pasted as a URL; what is kept is the host.
    value: str = strawberry.field(metadata=bounds(URL_LENGTH))


@strawberry.type
class ContactPayload:
    contact: Contact | None = None
    error: MutationError | None = None

    @classmethod
    def of(cls, outcome: ContactRecord | MutationError) -> ContactPayload:
        if isinstance(outcome, MutationError):
            return cls(error=outcome)
        return cls(contact=Contact.from_model(outcome))


@strawberry.type
class CompanyPayload:
    company: Company | None = None
    error: MutationError | None = None

    @classmethod
    def of(cls, outcome: CompanyRecord | MutationError) -> CompanyPayload:
        if isinstance(outcome, MutationError):
            return cls(error=outcome)
        return cls(company=Company.from_model(outcome))


@strawberry.type
class DeleteRecordPayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The id of the contact or company deleted."
    )
    error: MutationError | None = None

    @classmethod
    def of(cls, outcome: str | MutationError) -> DeleteRecordPayload:
        if isinstance(outcome, MutationError):
            return cls(error=outcome)
        return cls(deleted_id=strawberry.ID(outcome))


@strawberry.type
class ChannelStoragePolicy:
    channel: vocabulary.Channel
    policy: vocabulary.StoragePolicy
    is_default: bool = strawberry.field(description="No policy was set for this channel.")


@strawberry.type
class NeverStoreEntry:
    kind: vocabulary.NeverStoreKind
    value: str = strawberry.field(description="Normalised: lower-case address, E.164 number, host.")


@strawberry.type(description="What the workspace stores automatically, and what never.")
class StorageRules:
    rules: list[StorageRule] = strawberry.field(
        description="In the order they are tried: the workspace's own, then one per channel "
        "policy. A user's link or store wins over them, and the never-store list too."
    )
    own_domains: list[str] = strawberry.field(
        description="The workspace's own domains, which `internalOnly` compares with."
    )
    policies: list[ChannelStoragePolicy] = strawberry.field(description="One per channel.")
    never_store: list[NeverStoreEntry]

    @classmethod
    def from_rules(cls, rules: Rules) -> StorageRules:
        never_store = rules.never_store
        values = {
            vocabulary.NeverStoreKind.EMAIL: never_store.emails,
            vocabulary.NeverStoreKind.PHONE: never_store.phones,
            vocabulary.NeverStoreKind.DOMAIN: never_store.domains,
        }
        return cls(
            rules=[StorageRule.from_rule(rule) for rule in rules.ordered],
            own_domains=sorted(rules.own_domains),
            policies=[
                ChannelStoragePolicy(
                    channel=channel,
                    policy=rules.policy_for(channel),
                    is_default=channel not in rules.policies,
                )
                for channel in vocabulary.Channel
            ],
            never_store=[
                NeverStoreEntry(kind=kind, value=value)
                for kind, kind_values in values.items()
                for value in sorted(kind_values)
            ],
        )


@strawberry.type
class StorageRulesPayload:
    rules: StorageRules | None = None
    error: MutationError | None = None

    @classmethod
    def of(cls, outcome: Rules | MutationError) -> StorageRulesPayload:
        if isinstance(outcome, MutationError):
            return cls(error=outcome)
        return cls(rules=StorageRules.from_rules(outcome))


async def _attempt(input: object, work: Callable[[], Awaitable[T]]) -> T | MutationError:
    """The result of `work`, once `input` passed its checks, or its expected failure. A missing
    or bad token stays a top-level error: it concerns the whole request, not this mutation's
    input."""
    try:
        check(input, "")
        return await work()
    except Unauthenticated:
        raise
    except SwitchboardError as error:
        return MutationError.of(error)


def _some_value(given: strawberry.Maybe[T]) -> T | None:
    return None if given is None else given.value


def _change(given: strawberry.Maybe[str | None]) -> str | Keep | None:
    """A field an update may clear: left out, it stays as it is."""
    return KEEP if given is None else given.value


def _given_lists(
    emails: strawberry.Maybe[list[str]],
    phones: strawberry.Maybe[list[str]],
    provider_ids: strawberry.Maybe[list[str]],
) -> dict[IdentifierKind, list[str]]:
    """The identifier lists present in an input, by kind."""
    given = {
        IdentifierKind.EMAIL: emails,
        IdentifierKind.PHONE: phones,
        IdentifierKind.PROVIDER_ID: provider_ids,
    }
    return {kind: values.value for kind, values in given.items() if values is not None}


async def _create_contact(info: Info[Context, None], input: CreateContactInput) -> ContactPayload:
    changes = ContactChanges(
        first_name=input.first_name,
        last_name=input.last_name,
        identifiers=_given_lists(
            strawberry.Some(input.emails),
            strawberry.Some(input.phones),
            strawberry.Some(input.provider_ids),
        ),
        external_id=input.external_id,
    )
    return ContactPayload.of(
        await _attempt(
            input, lambda: crm_mutations.create_contact(info.context, changes, input.company_id)
        )
    )


async def _update_contact(info: Info[Context, None], input: UpdateContactInput) -> ContactPayload:
    changes = ContactChanges(
        first_name=_some_value(input.first_name),
        last_name=_some_value(input.last_name),
        identifiers=_given_lists(input.emails, input.phones, input.provider_ids),
        external_id=_change(input.external_id),
    )
    company_id = KEEP if input.company_id is None else input.company_id.value
    return ContactPayload.of(
        await _attempt(
            input,
            lambda: crm_mutations.update_contact(info.context, input.id, changes, company_id),
        )
    )


async def _delete_contact(
    info: Info[Context, None], input: DeleteContactInput
) -> DeleteRecordPayload:
    return DeleteRecordPayload.of(
        await _attempt(input, lambda: crm_mutations.delete_contact(info.context, input.id))
    )


async def _create_company(info: Info[Context, None], input: CreateCompanyInput) -> CompanyPayload:
    changes = CompanyChanges(name=input.name, domains=input.domains, external_id=input.external_id)
    return CompanyPayload.of(
        await _attempt(input, lambda: crm_mutations.create_company(info.context, changes))
    )


async def _update_company(info: Info[Context, None], input: UpdateCompanyInput) -> CompanyPayload:
    changes = CompanyChanges(
        name=_some_value(input.name),
        domains=_some_value(input.domains),
        external_id=_change(input.external_id),
    )
    return CompanyPayload.of(
        await _attempt(input, lambda: crm_mutations.update_company(info.context, input.id, changes))
    )


async def _delete_company(
    info: Info[Context, None], input: DeleteCompanyInput
) -> DeleteRecordPayload:
    return DeleteRecordPayload.of(
        await _attempt(input, lambda: crm_mutations.delete_company(info.context, input.id))
    )


async def _create_contact_from_participant(
    info: Info[Context, None], input: CreateContactFromParticipantInput
) -> ContactPayload:
    given = crm_mutations.ParticipantContact(
        conversation_id=input.conversation_id,
        identifier=input.identifier,
        names=ParticipantNames(
            first_name=input.first_name, last_name=input.last_name, name=input.name
        ),
        company_id=input.company_id,
    )
    return ContactPayload.of(
        await _attempt(
            input, lambda: crm_mutations.create_contact_from_participant(info.context, given)
        )
    )


async def _set_storage_policy(
    info: Info[Context, None], input: SetStoragePolicyInput
) -> StorageRulesPayload:
    return StorageRulesPayload.of(
        await _attempt(
            input,
            lambda: crm_mutations.set_storage_policy(info.context, input.channel, input.policy),
        )
    )


async def _add_never_store(
    info: Info[Context, None], input: NeverStoreInput
) -> StorageRulesPayload:
    return StorageRulesPayload.of(
        await _attempt(
            input, lambda: crm_mutations.add_never_store(info.context, input.kind, input.value)
        )
    )


async def _remove_never_store(
    info: Info[Context, None], input: NeverStoreInput
) -> StorageRulesPayload:
    return StorageRulesPayload.of(
        await _attempt(
            input, lambda: crm_mutations.remove_never_store(info.context, input.kind, input.value)
        )
    )


# -- bulk upserts -----------------------------------------------------------------------------

strawberry.enum(
    upserts.Outcome, name="UpsertOutcome", description="What an upsert did to one item."
)

UPSERTS = (
    f"At most {upserts.MAX_RECORDS} items per call (more: one BAD_USER_INPUT error, nothing "
    "written). Idempotent on `externalId`: the record of the workspace with that id is "
    "created or replaced; given exactly as stored it is UNCHANGED and nothing is written. An "
    "upsert sets the whole record: the identifiers (or domains) given replace the stored ones, "
    "and a list left out is empty. Each item gets a result, in input order; a bad one is "
    "REJECTED with its error and stops none of the others; of two items with one `externalId`, "
    "the first wins and the later one is REJECTED. Stored conversations the new identifiers "
    "match are linked in the background, shortly after the call."
)


@strawberry.input(description=f"A contact as the CRM holds it. {LISTS}")
class UpsertContactItem:
    external_id: str = strawberry.field(description=EXTERNAL_ID_DESCRIPTION, metadata=EXTERNAL_ID)
    first_name: str = strawberry.field(default="", metadata=NAME)
    last_name: str = strawberry.field(default="", metadata=NAME)
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Its company, by id; or give `companyExternalId`."
    )
    company_external_id: str | None = strawberry.field(
        default=None,
        description="Its company, by the CRM's id of a company of the workspace (upsert the "
        "companies first: a company of the same call does not count).",
        metadata=EXTERNAL_ID,
    )
    emails: list[str] = strawberry.field(default_factory=list, metadata=IDENTIFIERS)
    phones: list[str] = strawberry.field(default_factory=list, metadata=IDENTIFIERS)
    provider_ids: list[str] = strawberry.field(default_factory=list, metadata=IDENTIFIERS)


@strawberry.input(description=UPSERTS)
class UpsertContactsInput:
    contacts: list[UpsertContactItem]


@strawberry.input(description=f"A company as the CRM holds it. {LISTS}")
class UpsertCompanyItem:
    external_id: str = strawberry.field(description=EXTERNAL_ID_DESCRIPTION, metadata=EXTERNAL_ID)
    name: str = strawberry.field(metadata=NAME)
    domains: list[str] = strawberry.field(
        default_factory=list,
        description="Replace the company's domains; each may belong to one company only.",
        metadata=DOMAINS,
    )


@strawberry.input(description=UPSERTS)
class UpsertCompaniesInput:
    companies: list[UpsertCompanyItem]


@strawberry.type(description="What an upsert did to one contact.")
class ContactUpsertResult:
    external_id: str | None = strawberry.field(description="As given, trimmed when valid.")
    outcome: upserts.Outcome
    contact: Contact | None = strawberry.field(description="The contact, unless REJECTED.")
    error: MutationError | None = strawberry.field(description="Why it was REJECTED.")

    @classmethod
    def of(cls, upsert: crm_upserts.ContactUpsert) -> ContactUpsertResult:
        result = upsert.result
        return cls(
            external_id=result.external_id,
            outcome=result.outcome,
            contact=None if upsert.record is None else Contact.from_model(upsert.record),
            error=None if result.error is None else MutationError.of(result.error),
        )


@strawberry.type(description="What an upsert did to one company.")
class CompanyUpsertResult:
    external_id: str | None = strawberry.field(description="As given, trimmed when valid.")
    outcome: upserts.Outcome
    company: Company | None = strawberry.field(description="The company, unless REJECTED.")
    error: MutationError | None = strawberry.field(description="Why it was REJECTED.")

    @classmethod
    def of(cls, upsert: crm_upserts.CompanyUpsert) -> CompanyUpsertResult:
        result = upsert.result
        return cls(
            external_id=result.external_id,
            outcome=result.outcome,
            company=None if upsert.record is None else Company.from_model(upsert.record),
            error=None if result.error is None else MutationError.of(result.error),
        )


@strawberry.type
class UpsertContactsPayload:
    results: list[ContactUpsertResult] = strawberry.field(
        default_factory=list, description="One per item, in input order."
    )
    error: MutationError | None = strawberry.field(
        default=None, description="Why nothing was written (too many items)."
    )


@strawberry.type
class UpsertCompaniesPayload:
    results: list[CompanyUpsertResult] = strawberry.field(
        default_factory=list, description="One per item, in input order."
    )
    error: MutationError | None = strawberry.field(
        default=None, description="Why nothing was written (too many items)."
    )


def _checked_item(item: object, external_id: str) -> upserts.Refused | None:
    """The item's refusal by its fields' bounds, if it breaks one."""
    try:
        check(item, "")
    except BadUserInput as error:
        return upserts.Refused(external_id[: records.EXTERNAL_ID_LENGTH], error)
    return None


def _contact_item(item: UpsertContactItem) -> upserts.ContactItem | upserts.Refused:
    refused = _checked_item(item, item.external_id)
    if refused is not None:
        return refused
    try:
        company_id = None if item.company_id is None else crm_upserts.company_key(item.company_id)
    except BadUserInput as error:
        return upserts.Refused(item.external_id, error)
    return upserts.ContactItem(
        external_id=item.external_id,
        first_name=item.first_name,
        last_name=item.last_name,
        emails=item.emails,
        phones=item.phones,
        provider_ids=item.provider_ids,
        company_id=company_id,
        company_external_id=item.company_external_id,
    )


def _company_item(item: UpsertCompanyItem) -> upserts.CompanyItem | upserts.Refused:
    refused = _checked_item(item, item.external_id)
    if refused is not None:
        return refused
    return upserts.CompanyItem(external_id=item.external_id, name=item.name, domains=item.domains)


async def _upserted(
    upsert: Callable[[], Awaitable[list[crm_upserts.Upserted[RecordT]]]],
    result_of: Callable[[crm_upserts.Upserted[RecordT]], ResultT],
) -> tuple[list[ResultT], MutationError | None]:
    """Each item's result, in input order; or none, and why the call wrote nothing."""
    outcome = await _attempt(None, upsert)
    if isinstance(outcome, MutationError):
        return [], outcome
    return [result_of(upserted) for upserted in outcome], None


async def _upsert_contacts(
    info: Info[Context, None], input: UpsertContactsInput
) -> UpsertContactsPayload:
    items = [_contact_item(item) for item in input.contacts]
    results, error = await _upserted(
        lambda: crm_upserts.upsert_contact_records(info.context, items), ContactUpsertResult.of
    )
    return UpsertContactsPayload(results=results, error=error)


async def _upsert_companies(
    info: Info[Context, None], input: UpsertCompaniesInput
) -> UpsertCompaniesPayload:
    items = [_company_item(item) for item in input.companies]
    results, error = await _upserted(
        lambda: crm_upserts.upsert_company_records(info.context, items), CompanyUpsertResult.of
    )
    return UpsertCompaniesPayload(results=results, error=error)


@strawberry.type
class CrmMutation:
    # `resolver=` rather than decorated methods keeps the fields typed for mypy.
    create_contact: ContactPayload = strawberry.mutation(
        resolver=_create_contact,
        description="Create a contact; stored conversations it matches are linked to it.",
    )
    update_contact: ContactPayload = strawberry.mutation(
        resolver=_update_contact,
        description="Change a contact; stored conversations its new identifiers match are "
        "linked to it.",
    )
    delete_contact: DeleteRecordPayload = strawberry.mutation(
        resolver=_delete_contact,
        description="Delete a contact, with its identifiers and links.",
    )
    create_company: CompanyPayload = strawberry.mutation(
        resolver=_create_company,
        description="Create a company; stored conversations with someone at its domains are "
        "linked to it.",
    )
    update_company: CompanyPayload = strawberry.mutation(
        resolver=_update_company,
        description="Change a company; stored conversations its new domains match are linked "
        "to it.",
    )
    delete_company: DeleteRecordPayload = strawberry.mutation(
        resolver=_delete_company,
        description="Delete a company, with its domains and links; its contacts stay, without "
        "company.",
    )
    create_contact_from_participant: ContactPayload = strawberry.mutation(
        resolver=_create_contact_from_participant,
        description="Create a contact for a participant of a conversation, with the "
        "participant's identifier; the conversation is read live to check it.",
    )
    set_storage_policy: StorageRulesPayload = strawberry.mutation(
        resolver=_set_storage_policy,
        description="Set what happens to matching conversations of a channel.",
    )
    add_never_store: StorageRulesPayload = strawberry.mutation(
        resolver=_add_never_store,
        description="Never store conversations with this address, number or domain "
        "automatically. Idempotent.",
    )
    remove_never_store: StorageRulesPayload = strawberry.mutation(
        resolver=_remove_never_store,
        description="Take an entry off the never-store list. Idempotent.",
    )
    upsert_contacts: UpsertContactsPayload = strawberry.mutation(
        resolver=_upsert_contacts,
        description="Create or replace contacts by the CRM's ids, in bulk.",
    )
    upsert_companies: UpsertCompaniesPayload = strawberry.mutation(
        resolver=_upsert_companies,
        description="Create or replace companies by the CRM's ids, in bulk.",
    )

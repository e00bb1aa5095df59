"""The CRM side of the schema: contacts and companies, paged from the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from core.ids import int_key, to_global_id
from core.vocabulary import IdentifierKind
from crm import CandidateKind, reading
from crm.loaders import CompanyByIdLoader, ContactByIdLoader
from resolvers.context import Context
from resolvers.conversations import linked_conversations
from schema.inbox import ConversationConnection
from schema.inputs import SEARCH_LENGTH, SEARCH_WORDS, cursor
from schema.inputs import search as checked_search
from schema.node import Node
from schema.pagination import Connection

FIRST = strawberry.argument(description="How many to return, from 1 to 100.")
AFTER = strawberry.argument(
    description="Return those after this cursor, from an edge of this list."
)


async def _linked_conversations(
    root: Node, info: Info[Context, None], first: int | None = None, after: str | None = None
) -> ConversationConnection:
    """A contact's or company's stored conversations, newest first: the root's type names the
    kind of record."""
    type_name = type(root).__name__
    pk = int_key(root.id, type_name)
    page = await linked_conversations(
        info.context, CandidateKind(type_name.upper()), pk, first, cursor(after)
    )
    return ConversationConnection.from_page(page, info.context.viewer().user_id)


@strawberry.type(description="An email address, phone number or provider id of a contact.")
class ContactIdentifierValue:
    value: str = strawberry.field(
        description="The normalised form, the one participants are matched against "
        "(lower-case email, E.164 phone number)."
    )
    original: str = strawberry.field(description="As it was entered in the CRM.")


@strawberry.type(description="A company of the CRM.")
class Company(Node):
    name: str
    external_id: str | None = strawberry.field(
        description="The CRM's own id of this company, unique in the workspace."
    )
    domains: list[str] = strawberry.field(description="Its registrable domains, normalised.")
    created_at: datetime
    updated_at: datetime

    conversations: ConversationConnection = strawberry.field(
        resolver=_linked_conversations,
        description="Stored conversations linked to this company, newest first.",
    )

    @classmethod
    def from_model(cls, record: reading.CompanyRecord) -> Company:
        company = record.company
        return cls(
            id=strawberry.ID(to_global_id("Company", company.id)),
            name=company.name,
            external_id=company.external_id,
            domains=list(record.domains),
            created_at=company.created_at,
            updated_at=company.updated_at,
        )


@strawberry.type(description="A person of the CRM.")
class Contact(Node):
    first_name: str
    last_name: str
    name: str = strawberry.field(description="The first and last names together.")
    external_id: str | None = strawberry.field(
        description="The CRM's own id of this contact, unique in the workspace."
    )
    company: Company | None
    emails: list[ContactIdentifierValue]
    phones: list[ContactIdentifierValue]
    provider_ids: list[ContactIdentifierValue] = strawberry.field(
        description="Ids on messaging networks, such as a LinkedIn member id."
    )
    created_at: datetime
    updated_at: datetime

    conversations: ConversationConnection = strawberry.field(
        resolver=_linked_conversations,
        description="Stored conversations linked to this contact, newest first.",
    )

    @classmethod
    def from_model(cls, record: reading.ContactRecord) -> Contact:
        contact = record.contact
        values: dict[IdentifierKind, list[ContactIdentifierValue]] = {
            kind: [] for kind in IdentifierKind
        }
        for identifier in record.identifiers:
            values[identifier.kind].append(
                ContactIdentifierValue(value=identifier.value, original=identifier.original)
            )
        return cls(
            id=strawberry.ID(to_global_id("Contact", contact.id)),
            first_name=contact.first_name,
            last_name=contact.last_name,
            name=" ".join(part for part in (contact.first_name, contact.last_name) if part),
            external_id=contact.external_id,
            company=None if record.company is None else Company.from_model(record.company),
            emails=values[IdentifierKind.EMAIL],
            phones=values[IdentifierKind.PHONE],
            provider_ids=values[IdentifierKind.PROVIDER_ID],
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )


async def _contacts(
    info: Info[Context, None],
    first: Annotated[int | None, FIRST] = reading.DEFAULT_PAGE_SIZE,
    after: Annotated[str | None, AFTER] = None,
    search: Annotated[
        str | None,
        strawberry.argument(
            description="Words that must each appear, ignoring case, in the first or last name "
            "or in an email address, phone number or provider id. "
            f"At most {SEARCH_WORDS} words and {SEARCH_LENGTH} characters."
        ),
    ] = None,
) -> Connection[Contact]:
    context = info.context
    page = await reading.contact_page(
        context.viewer(), context.cursors(), first, cursor(after), checked_search(search)
    )
    return Connection.from_page(page, Contact.from_model, context.cursors())


async def _companies(
    info: Info[Context, None],
    first: Annotated[int | None, FIRST] = reading.DEFAULT_PAGE_SIZE,
    after: Annotated[str | None, AFTER] = None,
    search: Annotated[
        str | None,
        strawberry.argument(
            description="Words that must each appear, ignoring case, in the name or a domain. "
            f"At most {SEARCH_WORDS} words and {SEARCH_LENGTH} characters."
        ),
    ] = None,
) -> Connection[Company]:
    context = info.context
    page = await reading.company_page(
        context.viewer(), context.cursors(), first, cursor(after), checked_search(search)
    )
    return Connection.from_page(page, Company.from_model, context.cursors())


@strawberry.type
class CrmQuery:
    # `resolver=` rather than decorated methods keeps the fields typed for mypy.
    contacts: Connection[Contact] = strawberry.field(
        resolver=_contacts,
        description="The workspace's contacts, by last name, then first name, from the database.",
    )
    companies: Connection[Company] = strawberry.field(
        resolver=_companies,
        description="The workspace's companies, by name, from the database.",
    )


async def contact_nodes(loader: ContactByIdLoader, pks: Sequence[int]) -> list[Contact | None]:
    """The contacts for `nodes(ids:)`, in order: None when missing or of another workspace."""
    records = await loader.load_many(pks)
    return [None if record is None else Contact.from_model(record) for record in records]


async def company_nodes(loader: CompanyByIdLoader, pks: Sequence[int]) -> list[Company | None]:
    """The companies for `nodes(ids:)`, in order: None when missing or of another workspace."""
    records = await loader.load_many(pks)
    return [None if record is None else Company.from_model(record) for record in records]

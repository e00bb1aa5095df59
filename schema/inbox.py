"""The inbox's types: conversations, their participants and CRM matches, storage, links, messages.

Every field here is a plain attribute: the connection resolvers load a whole page in batches and
build these objects, so that no field does I/O of its own (see `stack-notes.md` on speed). The one
exception is `Conversation.messages`, a conversation view's own request.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from inbox.records import ConversationRecord
from resolvers.context import Context
from schema.enums import (
    CandidateKind,
    Channel,
    Direction,
    LinkSource,
    MatchMethod,
    ParticipantRole,
    StorageReason,
)
from schema.inputs import EXTERNAL_ID_LENGTH, bounds
from schema.node import Node
from schema.pagination import PageInfo
from schema.viewer import Account


@strawberry.type(description="A CRM contact or company a participant may be.")
class CrmCandidate:
    id: strawberry.ID = strawberry.field(description="The global id of the Contact or Company.")
    kind: CandidateKind
    name: str
    method: MatchMethod
    confidence: float = strawberry.field(
        description="0 to 1: email 0.95, phone 0.90, provider id 0.85, domain 0.80, manual 1.0."
    )


@strawberry.type(
    description="What a participant matched in the CRM. No pick is made among several candidates."
)
class CrmMatch:
    contact: CrmCandidate | None = strawberry.field(
        description="The contact, when exactly one matched."
    )
    company: CrmCandidate | None = strawberry.field(
        description="The company, when exactly one matched."
    )
    method: MatchMethod | None = strawberry.field(description="How the best candidate matched.")
    confidence: float | None
    ambiguous: bool = strawberry.field(
        description="Several contacts, or several companies, matched."
    )
    candidates: list[CrmCandidate]


@strawberry.type(description="Someone in a conversation or on a message.")
class Participant:
    identifier: str = strawberry.field(
        description="As UniPile shows it: an address, a WhatsApp JID, a provider id."
    )
    identifier_type: str
    display_name: str | None
    is_self: bool = strawberry.field(description="The connected account itself.")
    role: ParticipantRole
    phone_number: str | None = strawberry.field(
        description="E.164, when the identifier is a phone number or JID."
    )
    email_address: str | None = strawberry.field(
        description="Normalised, when the identifier is an email address."
    )
    crm_match: CrmMatch | None = strawberry.field(
        description="Null for the account itself and for identifiers that are not people."
    )


@strawberry.type(description="Whether the CRM keeps a conversation, and why.")
class StorageStatus:
    stored: bool
    should_store: bool
    reason: StorageReason
    stored_at: datetime | None


@strawberry.type(description="A link between a conversation and a contact or company.")
class ConversationLink:
    id: strawberry.ID
    target: CrmCandidate
    source: LinkSource
    rule: MatchMethod | None = strawberry.field(
        description="The matcher's rule, for links it created."
    )
    created_by_user_id: strawberry.ID | None = strawberry.field(
        description="The global id of the User who linked it."
    )
    created_at: datetime


@strawberry.type
class Attachment:
    name: str | None
    size: int | None
    mime_type: str | None


@strawberry.type(
    description="A message of a chat, or an email of a thread; the same shape live or stored."
)
class Message(Node):
    external_id: str = strawberry.field(description="The UniPile message or email id.")
    sender: Participant
    recipients: list[Participant] = strawberry.field(
        description="To and cc (email); empty for chats."
    )
    direction: Direction
    text: str | None
    html: str | None = strawberry.field(description="The HTML body (email).")
    sent_at: datetime
    is_read: bool
    attachments: list[Attachment]


@strawberry.type
class MessageEdge:
    cursor: str
    node: Message


@strawberry.type
class MessageConnection:
    edges: list[MessageEdge]
    page_info: PageInfo


@strawberry.type(description="A chat, or an email thread, of one connected account.")
class Conversation(Node):
    external_id: str = strawberry.field(description="The UniPile chat id, or the email thread id.")
    channel: Channel
    account: Account
    subject: str | None
    is_group: bool
    last_message_at: datetime | None
    last_message_preview: str | None = strawberry.field(
        description="Chats: the last message's text. Email: null (a page fetches no bodies)."
    )
    unread_count: int
    has_attachments: bool
    participants: list[Participant]
    storage: StorageStatus
    links: list[ConversationLink] = strawberry.field(
        description="Active links; removed ones are not listed."
    )
    can_link: bool = strawberry.field(
        description="Whether the viewer may link or store it now (its account is connected)."
    )
    record: strawberry.Private[ConversationRecord]
    stored_id: strawberry.Private[int | None]

    @strawberry.field(
        description="Newest first: the stored copy when stored, else live from UniPile."
    )
    async def messages(
        self, info: Info[Context, None], first: int = 20, after: str | None = None
    ) -> MessageConnection:
        # Imported here: resolvers.messages builds this module's types, so it imports it.
        from resolvers.messages import conversation_messages

        return await conversation_messages(info.context, self, first, after)


@strawberry.type
class ConversationEdge:
    cursor: str
    node: Conversation


@strawberry.type
class ConversationConnection:
    edges: list[ConversationEdge]
    page_info: PageInfo


@strawberry.input(
    description="Which conversations to list. Every field narrows the list; all are optional."
)
class ConversationFilter:
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only these accounts (pushed down: only they are asked)."
    )
    channels: list[Channel] | None = strawberry.field(
        default=None,
        description="Only these channels (pushed down: only their accounts are asked).",
    )
    unread: bool | None = strawberry.field(
        default=None,
        description="Unread or read only (pushed down for chats; applied here for email threads).",
    )
    matched: bool | None = strawberry.field(
        default=None, description="With or without a CRM match (applied by the server)."
    )
    stored: bool | None = strawberry.field(
        default=None, description="Stored or not (applied by the server)."
    )
    linked_to: strawberry.ID | None = strawberry.field(
        default=None, description="Linked to this Contact or Company (applied by the server)."
    )
    folder: str | None = strawberry.field(
        default=None,
        description="Email folder provider id (pushed down); chats, without folders, are left out.",
        metadata=bounds(EXTERNAL_ID_LENGTH),
    )


@strawberry.input(description="Which events to receive; every field narrows them.")
class SubscriptionFilter:
    conversation_id: strawberry.ID | None = None
    account_ids: list[strawberry.ID] | None = None
    channels: list[Channel] | None = None


@strawberry.type(description="A new message, with its conversation as the inbox shows it.")
class MessageEvent:
    message: Message
    conversation: Conversation


@strawberry.enum(description="What changed about a conversation.")
class ConversationChange(Enum):
    STORED = "STORED"
    LINKED = "LINKED"
    UNLINKED = "UNLINKED"
    FORGOTTEN = "FORGOTTEN"
    READ_STATE = "READ_STATE"
    REACTION = "REACTION"


@strawberry.type(description="A conversation changed, in whichever process the change was made.")
class ConversationEvent:
    conversation_id: strawberry.ID
    change: ConversationChange
    conversation: Conversation | None = strawberry.field(
        description="As it is now; null when it no longer exists upstream."
    )

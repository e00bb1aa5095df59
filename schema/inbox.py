"""The inbox's types: conversations, their participants and CRM matches, storage, links, messages.

Every field here is a plain attribute: the resolvers load a whole page's facts in batches and the
types are built from them (`from_facts`), so that no field does I/O of its own (see
`stack-notes.md` on speed). The one exception is `Conversation.messages`, a conversation view's own
request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from core.errors import BadUserInput
from core.ids import int_key, key_of, primary_key, shown, to_global_id
from core.vocabulary import AccountStatus, IdentifierKind
from crm import CONFIDENCE, Candidate, Identifier, Match
from inbox.conversations import ConversationPage
from inbox.facts import ConversationFacts
from inbox.filters import InboxFilter
from inbox.html import sanitised_html
from inbox.messages import MessageFacts, MessagePage
from inbox.records import (
    CONVERSATION_FIELDS,
    MESSAGE_FIELDS,
    ConversationRecord,
    MessageRecord,
    ParticipantRecord,
    same_fields,
)
from inbox.state import LinkRecord
from resolvers.context import Context
from resolvers.messages import conversation_messages
from schema.enums import (
    CandidateKind,
    Channel,
    ConversationSource,
    Direction,
    LinkSource,
    MatchMethod,
    ParticipantRole,
    StorageReason,
)
from schema.inputs import EXTERNAL_ID_LENGTH, bounds, check
from schema.node import Node
from schema.pagination import PageInfo, page_info
from schema.rules import StorageRule
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

    @classmethod
    def from_candidate(cls, candidate: Candidate) -> CrmCandidate:
        type_name = "Contact" if candidate.kind is CandidateKind.CONTACT else "Company"
        return cls(
            id=strawberry.ID(to_global_id(type_name, candidate.id)),
            kind=candidate.kind,
            name=candidate.name,
            method=candidate.method,
            confidence=candidate.confidence,
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

    @classmethod
    def from_match(cls, match: Match | None) -> CrmMatch | None:
        if match is None or match.is_own:
            return None
        best = (
            match.contacts[0]
            if match.contacts
            else (match.companies[0] if match.companies else None)
        )
        return cls(
            contact=None
            if match.primary_contact is None
            else CrmCandidate.from_candidate(match.primary_contact),
            company=None
            if match.primary_company is None
            else CrmCandidate.from_candidate(match.primary_company),
            method=None if best is None else best.method,
            confidence=None if best is None else best.confidence,
            ambiguous=match.ambiguous_contact or match.ambiguous_company,
            candidates=[CrmCandidate.from_candidate(candidate) for candidate in match.candidates],
        )


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

    @classmethod
    def from_record(
        cls, record: ParticipantRecord, identifier: Identifier | None, match: Match | None
    ) -> Participant:
        kind = identifier.kind if identifier else None
        return cls(
            identifier=record.identifier,
            identifier_type=record.identifier_type,
            display_name=record.display_name,
            is_self=record.is_self,
            role=record.role,
            phone_number=identifier.value if identifier and kind is IdentifierKind.PHONE else None,
            email_address=identifier.value if identifier and kind is IdentifierKind.EMAIL else None,
            crm_match=CrmMatch.from_match(match),
        )

    @classmethod
    def all_from(
        cls,
        people: Sequence[ParticipantRecord],
        identifiers: Sequence[Identifier | None],
        matches: Sequence[Match | None],
    ) -> list[Participant]:
        return [
            cls.from_record(person, identifier, match)
            for person, identifier, match in zip(people, identifiers, matches, strict=True)
        ]


@strawberry.type(description="Whether the CRM keeps a conversation, and why.")
class StorageStatus:
    stored: bool
    should_store: bool
    reason: StorageReason
    stored_at: datetime | None
    rule: StorageRule | None = strawberry.field(
        description="The first storage rule that holds for it (a user's link or store decides "
        "over it, `reason` says so); null when none holds or the never-store list blocks it."
    )

    @classmethod
    def from_facts(cls, facts: ConversationFacts) -> StorageStatus:
        decision, state = facts.decision, facts.state
        stored_reason = state.storage_reason
        reason = (
            decision.reason if decision.should_store or stored_reason is None else stored_reason
        )
        return cls(
            stored=state.stored_id is not None,
            should_store=decision.should_store,
            reason=reason,
            stored_at=state.stored_at,
            rule=None if decision.rule is None else StorageRule.from_rule(decision.rule),
        )


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

    @classmethod
    def from_record(cls, link: LinkRecord) -> ConversationLink:
        method = (
            link.rule if link.source is LinkSource.MATCHER and link.rule else MatchMethod.MANUAL
        )
        target = Candidate(
            link.target, link.target_id, link.target_name, method, CONFIDENCE[method]
        )
        return cls(
            id=strawberry.ID(to_global_id("ConversationLink", link.id)),
            target=CrmCandidate.from_candidate(target),
            source=link.source,
            rule=link.rule,
            created_by_user_id=None
            if link.created_by_id is None
            else strawberry.ID(to_global_id("User", link.created_by_id)),
            created_at=link.created_at,
        )


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
    html: strawberry.Private[str | None]
    """The HTML body as UniPile gives it: the sender's, hostile."""
    sent_at: datetime
    is_read: bool
    attachments: list[Attachment]

    @strawberry.field(
        name="html",
        description="The HTML body (email), sanitised on the server: formatting, tables, inline "
        "layout styles, images (http(s), or data: PNG, GIF, JPEG, WebP) and links (http(s), "
        "mailto:, tel:; opening a new tab, noopener noreferrer) are kept; scripts, style "
        "sheets, event handlers, frames, forms, SVG, ids and classes, relative URLs and other "
        "schemes are not. A body too deeply nested to parse cheaply comes back as its text. "
        "`raw: true` gives the body as the sender wrote it.",
    )
    def html_body(
        self,
        raw: Annotated[
            bool,
            strawberry.argument(
                description="The body unsanitised, as the sender wrote it: hostile input, "
                "never to be put into a page as it is."
            ),
        ] = False,
    ) -> str | None:
        if raw or self.html is None:
            return self.html
        return sanitised_html(self.html)

    @classmethod
    def from_facts(cls, facts: MessageFacts) -> Message:
        record = facts.record
        shown = Participant.all_from(facts.people, facts.identifiers, facts.matches)
        return cls(
            id=strawberry.ID(message_id(record)),
            sender=shown[0],
            recipients=shown[1:],
            **same_fields(record, MESSAGE_FIELDS),
            attachments=[
                Attachment(name=a.name, size=a.size, mime_type=a.mime_type)
                for a in record.attachments
            ],
        )


@strawberry.type
class MessageEdge:
    cursor: str
    node: Message


@strawberry.type
class MessageConnection:
    edges: list[MessageEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: MessagePage) -> MessageConnection:
        edges = [
            MessageEdge(cursor=cursor, node=Message.from_facts(facts))
            for facts, cursor in page.edges
        ]
        info = page_info(
            edges, has_next_page=page.has_next_page, has_previous_page=page.has_previous_page
        )
        return cls(edges=edges, page_info=info)


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
    source: ConversationSource
    fetched_at: datetime | None = strawberry.field(
        description="When Switchboard read it from UniPile: a page of the inbox is served from "
        "the live cache for up to `LIVE_CACHE_SECONDS`, or until a webhook changes it. Null for "
        "a stored copy."
    )
    record: strawberry.Private[ConversationRecord]
    stored_id: strawberry.Private[int | None]

    @classmethod
    def from_facts(
        cls, facts: ConversationFacts, viewer_id: int, accounts: dict[int, Account] | None = None
    ) -> Conversation:
        """`accounts`: the page's Account objects by id, shared by its conversations (filled)."""
        record = facts.record
        account = None if accounts is None else accounts.get(record.account.id)
        if account is None:
            account = Account.from_model(record.account, viewer_id)
            if accounts is not None:
                accounts[record.account.id] = account
        return cls(
            id=strawberry.ID(conversation_id(record.account.id, record.external_id)),
            account=account,
            last_message_preview=record.last_message_preview,
            has_attachments=record.has_attachments,
            **same_fields(record, CONVERSATION_FIELDS),
            participants=Participant.all_from(facts.participants, facts.identifiers, facts.matches),
            storage=StorageStatus.from_facts(facts),
            links=[ConversationLink.from_record(link) for link in facts.state.active_links],
            can_link=record.account.status is AccountStatus.OK,
            source=record.source,
            fetched_at=record.fetched_at,
            record=record,
            stored_id=facts.state.stored_id,
        )

    @strawberry.field(
        description="Newest first: the stored copy when stored, else live from UniPile."
    )
    async def messages(
        self, info: Info[Context, None], first: int = 20, after: str | None = None
    ) -> MessageConnection:
        names = {p.identifier: p.display_name for p in self.participants}
        page = await conversation_messages(
            info.context, self.record, self.stored_id, names, first, after
        )
        return MessageConnection.from_page(page)


@strawberry.type
class ConversationEdge:
    cursor: str
    node: Conversation


@strawberry.type
class ConversationConnection:
    edges: list[ConversationEdge]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: ConversationPage, viewer_id: int) -> ConversationConnection:
        accounts: dict[int, Account] = {}
        edges = [
            ConversationEdge(
                cursor=cursor, node=Conversation.from_facts(facts, viewer_id, accounts)
            )
            for facts, cursor in page.edges
        ]
        info = page_info(
            edges, has_next_page=page.has_next_page, has_previous_page=page.has_previous_page
        )
        return cls(edges=edges, page_info=info)


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

    def to_filter(self) -> InboxFilter:
        check(self, "filter")
        return InboxFilter(
            account_ids=account_keys(self.account_ids),
            channels=channel_set(self.channels),
            unread=self.unread,
            matched=self.matched,
            stored=self.stored,
            linked_to=None if self.linked_to is None else _link_target(self.linked_to),
            folder=self.folder,
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


def conversation_id(account_id: int, external_id: str) -> str:
    return to_global_id("Conversation", f"{account_id}:{external_id}")


def message_id(record: MessageRecord) -> str:
    return to_global_id(
        "Message", f"{record.account_id}:{record.conversation_external_id}:{record.external_id}"
    )


def inbox_filter(given: ConversationFilter | None) -> InboxFilter:
    return InboxFilter() if given is None else given.to_filter()


def account_keys(ids: list[strawberry.ID] | None) -> frozenset[int] | None:
    """The primary keys of a filter's Account ids; None: no filter."""
    if ids is None:
        return None
    keys = set()
    for index, global_id in enumerate(ids):
        try:
            keys.add(int_key(global_id, "Account"))
        except BadUserInput as error:
            raise BadUserInput(str(error), argument=f"filter.accountIds[{index}]") from None
    return frozenset(keys)


def channel_set(channels: list[Channel] | None) -> frozenset[Channel] | None:
    return None if channels is None else frozenset(Channel(c) for c in channels)


def _link_target(global_id: str) -> tuple[CandidateKind, int]:
    typed = key_of(global_id, "Contact", "Company")
    pk = None if typed is None else primary_key(typed[1])
    if typed is None or pk is None:
        raise BadUserInput(
            f"{shown(global_id)} is not the id of a Contact or Company", argument="filter.linkedTo"
        )
    return CandidateKind(typed[0].upper()), pk

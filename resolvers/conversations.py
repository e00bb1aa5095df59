"""The inbox: a page of live conversations with their CRM matches, storage status and links.

A page is loaded in batches (one `resolve` for every participant on it, one read of stored
copies and links, one of the storage rules) and handed to the schema as plain objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
import strawberry

from access.scope import ViewerScope
from core.errors import (
    AccountDisconnected,
    BadUserInput,
    SwitchboardError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from core.ids import from_global_id, int_key, primary_key, to_global_id
from core.vocabulary import (
    AccountStatus,
    Channel,
    IdentifierKind,
    LinkSource,
    MatchMethod,
    StorageReason,
)
from crm import (
    CONFIDENCE,
    Candidate,
    CandidateKind,
    Identifier,
    Match,
    Rejected,
    StorageDecision,
    classify_participant,
    decide_storage,
)
from db.models import Account as AccountModel
from db.models import Conversation, ConversationLink, ConversationParticipant
from inbox.merge import InboxPage, PushedDown, read_inbox
from inbox.records import (
    ConversationRecord,
    ParticipantRecord,
    attendee_participants,
    conversation_from_chat,
    conversation_from_thread,
    is_upstream_of,
    thread_id_of,
)
from inbox.state import ConversationState, LinkRecord
from paging import Ordering
from resolvers.context import Context
from resolvers.loaders import MembersUnavailable
from schema import inbox as types
from schema.inputs import check
from schema.pagination import page_info, validate_first
from schema.viewer import Account
from unipile import (
    AccountDisconnectedError,
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    UnipileClient,
    UnipileError,
    is_valid_id,
)

DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class InboxFilter:
    account_ids: frozenset[int] | None = None
    channels: frozenset[Channel] | None = None
    unread: bool | None = None
    matched: bool | None = None
    stored: bool | None = None
    linked_to: tuple[CandidateKind, int] | None = None
    folder: str | None = None

    @classmethod
    def from_input(cls, given: types.ConversationFilter | None) -> InboxFilter:
        if given is None:
            return cls()
        check(given, "filter")
        return cls(
            account_ids=account_keys(given.account_ids),
            channels=channel_set(given.channels),
            unread=given.unread,
            matched=given.matched,
            stored=given.stored,
            linked_to=None if given.linked_to is None else _link_target(given.linked_to),
            folder=given.folder,
        )

    @property
    def key(self) -> str:
        """A digest of the filter: a cursor only continues the list it came from."""
        parts = {
            "a": sorted(self.account_ids or ()),
            "c": sorted(self.channels or ()),
            "u": self.unread,
            "m": self.matched,
            "s": self.stored,
            "l": list(self.linked_to) if self.linked_to else None,
            "f": self.folder,
        }
        return hashlib.blake2b(orjson.dumps(parts), digest_size=8).hexdigest()

    @property
    def applied_here(self) -> bool:
        return (
            self.unread is not None
            or self.matched is not None
            or self.stored is not None
            or self.linked_to is not None
        )

    def selects(self, account: AccountModel) -> bool:
        return (
            (self.account_ids is None or account.id in self.account_ids)
            and (self.channels is None or account.channel in self.channels)
            and (self.folder is None or account.channel is Channel.EMAIL)
        )


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
    try:
        type_name, key = from_global_id(global_id)
    except BadUserInput:
        type_name, key = "", ""
    pk = primary_key(key) if type_name in ("Contact", "Company") else None
    if pk is None:
        raise BadUserInput(
            f"{global_id!r} is not the id of a Contact or Company", argument="filter.linkedTo"
        )
    return CandidateKind(type_name.upper()), pk


@dataclass(frozen=True, slots=True)
class ConversationFacts:
    """Everything the page knows of one conversation once its batches are loaded."""

    record: ConversationRecord
    participants: tuple[ParticipantRecord, ...]
    identifiers: tuple[Identifier | None, ...]
    matches: tuple[Match | None, ...]
    state: ConversationState
    decision: StorageDecision

    @property
    def matched(self) -> bool:
        return any(
            match is not None and not match.is_own and match.candidates for match in self.matches
        )


def participant_identifier(participant: ParticipantRecord, region: str | None) -> Identifier | None:
    if participant.is_self:
        return None
    identifier = classify_participant(
        participant.identifier, participant.identifier_type, region=region
    )
    return None if isinstance(identifier, Rejected) else identifier


async def load_facts(
    context: Context, records: Sequence[ConversationRecord]
) -> list[ConversationFacts]:
    """The facts of a batch of conversations, in a fixed number of queries and requests."""
    scope = await context.scope()
    loaders = await context.loaders()
    groups = [record for record in records if record.participants is None]
    attendees = await loaders.attendees_by_chat.load_many(
        [(record.account.unipile_id, record.external_id) for record in groups]
    )
    members: dict[tuple[int, str], tuple[ParticipantRecord, ...]] = {}
    unavailable: dict[int, SwitchboardError] = {}
    for record, listed in zip(groups, attendees, strict=True):
        if isinstance(listed, MembersUnavailable):
            members[record.key] = ()
            unavailable[record.account.id] = upstream_error(record.account, listed.error)
        else:
            members[record.key] = attendee_participants(record.account, listed)
    # A group whose members could not be read is shown without them, its account named.
    context.partial_errors.extend(unavailable.values())
    participants = [record.participants or members[record.key] for record in records]
    # The same people (the account itself first) recur across a page: classify each once.
    classified: dict[tuple[str, str, bool], Identifier | None] = {}

    def identify(p: ParticipantRecord) -> Identifier | None:
        key = (p.identifier, p.identifier_type, p.is_self)
        try:
            return classified[key]
        except KeyError:
            found = classified[key] = participant_identifier(p, scope.region)
            return found

    identifiers = [tuple(map(identify, people)) for people in participants]
    wanted = list({i for batch in identifiers for i in batch if i is not None})
    matches = dict(
        zip(wanted, await loaders.crm_match_by_identifier.load_many(wanted), strict=True)
    )
    states = await loaders.conversation_state_by_key.load_many([record.key for record in records])
    rules = await context.rules()
    facts = []
    for record, people, ids, state in zip(records, participants, identifiers, states, strict=True):
        found = tuple(None if i is None else matches[i] for i in ids)
        decision = decide_storage(
            [m for m in found if m is not None],
            [link.state() for link in state.links],
            rules.policy_for(record.channel),
            rules.never_store,
            manually_stored=state.storage_reason is StorageReason.MANUAL_STORE,
        )
        facts.append(ConversationFacts(record, people, ids, found, state, decision))
    return facts


def _accepts(inbox_filter: InboxFilter, facts: ConversationFacts) -> bool:
    record = facts.record
    if inbox_filter.unread is not None and (record.unread_count > 0) != inbox_filter.unread:
        return False
    if inbox_filter.matched is not None and facts.matched != inbox_filter.matched:
        return False
    if (
        inbox_filter.stored is not None
        and (facts.state.stored_id is not None) != inbox_filter.stored
    ):
        return False
    if inbox_filter.linked_to is not None:
        targets = {(link.target, link.target_id) for link in facts.state.active_links}
        return inbox_filter.linked_to in targets
    return True


def upstream_error(account: AccountModel, error: UnipileError) -> SwitchboardError:
    """The GraphQL error for one account's failure, naming the account."""
    details = {
        "accountId": to_global_id("Account", account.id),
        "accountExternalId": account.unipile_id,
    }
    message = f"account {account.name} ({account.unipile_id}): "
    if isinstance(error, RateLimitedError):
        return UpstreamRateLimited(
            message + "UniPile is rate limiting", retryAfter=error.retry_after, **details
        )
    if isinstance(error, AccountDisconnectedError | AuthenticationError):
        return AccountDisconnected(message + "the account must be reconnected", **details)
    return UpstreamUnavailable(message + "UniPile is unavailable", **details)


async def inbox_connection(
    context: Context, first: int | None, after: str | None, given: types.ConversationFilter | None
) -> types.ConversationConnection:
    size = validate_first(first, DEFAULT_PAGE_SIZE)
    inbox_filter = InboxFilter.from_input(given)
    pager = context.pager(f"inbox:{inbox_filter.key}")
    resumed = await pager.resume(after)
    scope = await context.scope()
    accounts = [account for account in scope.accounts if inbox_filter.selects(account)]

    async def accept(records: Sequence[ConversationRecord]) -> list[bool]:
        return [_accepts(inbox_filter, facts) for facts in await load_facts(context, records)]

    async def shown(lane: str, threads: Sequence[str]) -> Mapping[str, Ordering]:
        return await pager.shown(resumed.session, lane, threads)

    page = await read_inbox(
        context.services.unipile,
        accounts,
        resumed.states,
        shown,
        PushedDown(unread=inbox_filter.unread, folder=inbox_filter.folder),
        size,
        accept if inbox_filter.applied_here else None,
    )
    context.partial_errors.extend(upstream_error(f.account, f.error) for f in page.failures)
    cursors = await pager.issue(resumed.session, [state for _, state in page.edges], page.shown)
    return await _connection(context, scope, page, cursors)


def schedule_auto_storage(context: Context, facts: Sequence[ConversationFacts]) -> None:
    """Conversations the policy stores on sight are queued after the response, not stored here."""
    for item in facts:
        if item.decision.auto_store and item.state.stored_id is None:
            context.services.auto_store.schedule(
                item.record.account.id, item.record.external_id, item.decision.reason
            )


async def _connection(
    context: Context, scope: ViewerScope, page: InboxPage, cursors: Sequence[str]
) -> types.ConversationConnection:
    facts = await load_facts(context, [conversation for conversation, _ in page.edges])
    schedule_auto_storage(context, facts)
    accounts: dict[int, Account] = {}
    edges = [
        types.ConversationEdge(cursor=cursor, node=conversation_node(scope, item, accounts))
        for item, cursor in zip(facts, cursors, strict=True)
    ]
    return types.ConversationConnection(
        edges=edges,
        page_info=page_info(edges, has_next_page=page.has_next_page, has_previous_page=False),
    )


def conversation_id(account_id: int, external_id: str) -> str:
    return to_global_id("Conversation", f"{account_id}:{external_id}")


def _candidate(candidate: Candidate) -> types.CrmCandidate:
    type_name = "Contact" if candidate.kind is CandidateKind.CONTACT else "Company"
    return types.CrmCandidate(
        id=strawberry.ID(to_global_id(type_name, candidate.id)),
        kind=candidate.kind,
        name=candidate.name,
        method=candidate.method,
        confidence=candidate.confidence,
    )


def crm_match(match: Match | None) -> types.CrmMatch | None:
    if match is None or match.is_own:
        return None
    best = (
        match.contacts[0] if match.contacts else (match.companies[0] if match.companies else None)
    )
    return types.CrmMatch(
        contact=None if match.primary_contact is None else _candidate(match.primary_contact),
        company=None if match.primary_company is None else _candidate(match.primary_company),
        method=None if best is None else best.method,
        confidence=None if best is None else best.confidence,
        ambiguous=match.ambiguous_contact or match.ambiguous_company,
        candidates=[_candidate(candidate) for candidate in match.candidates],
    )


def participant(
    record: ParticipantRecord, identifier: Identifier | None, match: Match | None
) -> types.Participant:
    kind = identifier.kind if identifier else None
    return types.Participant(
        identifier=record.identifier,
        identifier_type=record.identifier_type,
        display_name=record.display_name,
        is_self=record.is_self,
        role=record.role,
        phone_number=identifier.value if identifier and kind is IdentifierKind.PHONE else None,
        email_address=identifier.value if identifier and kind is IdentifierKind.EMAIL else None,
        crm_match=crm_match(match),
    )


def _link(link: LinkRecord) -> types.ConversationLink:
    method = link.rule if link.source is LinkSource.MATCHER and link.rule else MatchMethod.MANUAL
    target = Candidate(link.target, link.target_id, link.target_name, method, CONFIDENCE[method])
    return types.ConversationLink(
        id=strawberry.ID(to_global_id("ConversationLink", link.id)),
        target=_candidate(target),
        source=link.source,
        rule=link.rule,
        created_by_user_id=None
        if link.created_by_id is None
        else strawberry.ID(to_global_id("User", link.created_by_id)),
        created_at=link.created_at,
    )


def storage_status(facts: ConversationFacts) -> types.StorageStatus:
    decision, state = facts.decision, facts.state
    stored_reason = state.storage_reason
    reason = decision.reason if decision.should_store or stored_reason is None else stored_reason
    return types.StorageStatus(
        stored=state.stored_id is not None,
        should_store=decision.should_store,
        reason=reason,
        stored_at=state.stored_at,
    )


def conversation_node(
    scope: ViewerScope, facts: ConversationFacts, accounts: dict[int, Account] | None = None
) -> types.Conversation:
    """`accounts`: the page's Account objects by id, shared by its conversations (filled here)."""
    record = facts.record
    account = None if accounts is None else accounts.get(record.account.id)
    if account is None:
        account = Account.from_model(record.account, scope.identity.user_id)
        if accounts is not None:
            accounts[record.account.id] = account
    return types.Conversation(
        id=strawberry.ID(conversation_id(record.account.id, record.external_id)),
        external_id=record.external_id,
        channel=record.channel,
        account=account,
        subject=record.subject,
        is_group=record.is_group,
        last_message_at=record.last_message_at,
        last_message_preview=record.last_message_preview,
        unread_count=record.unread_count,
        has_attachments=record.has_attachments,
        participants=[
            participant(p, i, m)
            for p, i, m in zip(facts.participants, facts.identifiers, facts.matches, strict=True)
        ],
        storage=storage_status(facts),
        links=[_link(link) for link in facts.state.active_links],
        can_link=record.account.status is AccountStatus.OK,
        record=record,
        stored_id=facts.state.stored_id,
    )


async def fetch_record(
    client: UnipileClient, account: AccountModel, external_id: str
) -> ConversationRecord | None:
    if account.channel is Channel.EMAIL:
        listed = await client.list_emails(
            account_id=account.unipile_id, thread_id=external_id, meta_only=True, limit=50
        )
        emails = [
            email
            for email in listed.items
            if is_upstream_of(account, email.account_id) and thread_id_of(email) == external_id
        ]
        return conversation_from_thread(account, emails) if emails else None
    chat = await client.get_chat(external_id, account_id=account.unipile_id)
    return (
        conversation_from_chat(account, chat) if is_upstream_of(account, chat.account_id) else None
    )


async def conversation_by_key(
    context: Context, account_id: int, external_id: str
) -> types.Conversation | None:
    """One conversation, live; None when it does not exist or the viewer may not see it."""
    scope = await context.scope()
    account = scope.account(account_id)
    if account is None:
        return None
    try:
        record = await fetch_record(context.services.unipile, account, external_id)
    except NotFoundError:
        return None
    except UnipileError as error:
        raise upstream_error(account, error) from None
    if record is None:
        return None
    facts = await load_facts(context, [record])
    return conversation_node(scope, facts[0])


def conversation_key(key: str) -> tuple[int, str] | None:
    """`account:UniPile id`, with an id UniPile could have issued; anything else names nothing."""
    account_part, _, external_id = key.partition(":")
    account_id = primary_key(account_part)
    if account_id is None or not is_valid_id(external_id):
        return None
    return account_id, external_id


def stored_conversation_record(
    account: AccountModel,
    conversation: Conversation,
    participants: Sequence[ConversationParticipant],
) -> ConversationRecord:
    """A stored conversation in the live shape."""
    return ConversationRecord(
        account=account,
        external_id=conversation.external_id,
        channel=conversation.channel,
        subject=conversation.subject,
        is_group=conversation.is_group,
        last_message_at=conversation.last_message_at,
        last_message_preview=None,
        unread_count=conversation.unread_count,
        has_attachments=False,
        participants=tuple(
            ParticipantRecord(p.identifier, p.identifier_type, p.display_name, p.role, p.is_self)
            for p in participants
        ),
    )


async def linked_conversations(
    context: Context, target: CandidateKind, pk: int, first: int | None, after: str | None
) -> types.ConversationConnection:
    """A contact's or company's stored and linked conversations, newest first, from the database."""
    size = validate_first(first, DEFAULT_PAGE_SIZE)
    list_kind = f"linked-{target.value.lower()}-{pk}"
    cursors = context.cursors()
    offset = cursors.start_offset(list_kind, after)
    scope = await context.scope()
    accounts = {account.id: account for account in scope.accounts}
    key = {"contact_id": pk} if target is CandidateKind.CONTACT else {"company_id": pk}
    links = await ConversationLink.filter(
        removed_at=None, account_id__in=list(accounts), **key
    ).values_list("account_id", "conversation_external_id")
    pairs = set(links)
    candidates = await Conversation.filter(
        account_id__in=list(accounts), external_id__in=[external for _, external in pairs]
    ).order_by("-last_message_at", "-id")
    linked = [c for c in candidates if (c.account_id, c.external_id) in pairs]
    window = linked[offset : offset + size]
    people = await ConversationParticipant.filter(
        conversation_id__in=[c.id for c in window]
    ).order_by("id")
    records = [
        stored_conversation_record(
            accounts[c.account_id], c, [p for p in people if p.conversation_id == c.id]
        )
        for c in window
    ]
    facts = await load_facts(context, records)
    edges = [
        types.ConversationEdge(
            cursor=cursors.offset(list_kind, offset + index),
            node=conversation_node(scope, item),
        )
        for index, item in enumerate(facts)
    ]
    return types.ConversationConnection(
        edges=edges,
        page_info=page_info(
            edges, has_next_page=offset + size < len(linked), has_previous_page=offset > 0
        ),
    )

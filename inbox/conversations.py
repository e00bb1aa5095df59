"""Pages of conversations with their facts: the live inbox over the viewer's accounts, one
conversation by its key, and a contact's or company's linked conversations from the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core.cursors import ViewerCursors
from core.ids import primary_key
from core.pages import CursorPage
from core.vocabulary import Channel, ConversationSource
from crm import CandidateKind
from db.models import Account, Conversation, ConversationLink, ConversationParticipant
from inbox.facts import ConversationFacts, load_facts, upstream_error
from inbox.filters import InboxFilter
from inbox.live_cache import LiveCache
from inbox.merge import LaneSources, PushedDown, read_inbox
from inbox.reading import Reading
from inbox.records import (
    CONVERSATION_FIELDS,
    ConversationRecord,
    ParticipantRecord,
    conversation_from_chat,
    conversation_from_thread,
    is_upstream_of,
    same_fields,
    thread_id_of,
)
from paging import LaneState, Ordering, Pager, Position
from unipile import NotFoundError, UnipileClient, UnipileError, is_valid_id

ConversationPage = CursorPage[ConversationFacts]
LIVE = ConversationSource.LIVE


async def inbox_page(
    reading: Reading,
    cache: LiveCache,
    pager: Pager,
    inbox_filter: InboxFilter,
    size: int,
    after: str | None,
) -> ConversationPage:
    """One page of the live inbox; each account that fails upstream is named in `problems`."""
    resumed = await pager.resume(after)
    accounts = [account for account in reading.scope.accounts if inbox_filter.selects(account)]

    async def accept(records: Sequence[ConversationRecord]) -> list[bool]:
        return [inbox_filter.accepts(facts) for facts in await load_facts(reading, records)]

    async def shown(lane: str, threads: Sequence[str]) -> Mapping[str, Ordering]:
        return await pager.shown(resumed.session, lane, threads)

    page = await read_inbox(
        LaneSources(cache, stored_after, shown),
        accounts,
        resumed.states,
        PushedDown(unread=inbox_filter.unread, folder=inbox_filter.folder),
        size,
        accept if inbox_filter.applied_here else None,
    )
    reading.problems.extend(upstream_error(f.account, f.error) for f in page.failures)
    cursors = await pager.issue(resumed.session, [state for _, state in page.edges], page.shown)
    facts = await load_facts(reading, [conversation for conversation, _ in page.edges])
    return CursorPage(
        list(zip(facts, cursors, strict=True)),
        has_next_page=page.has_next_page,
        has_previous_page=False,
    )


async def fetch_record(
    client: UnipileClient, account: Account, external_id: str
) -> ConversationRecord | None:
    fetched_at = datetime.now(UTC)
    if account.channel is Channel.EMAIL:
        listed = await client.list_emails(
            account_id=account.unipile_id, thread_id=external_id, meta_only=True, limit=50
        )
        emails = [
            email
            for email in listed.items
            if is_upstream_of(account, email.account_id) and thread_id_of(email) == external_id
        ]
        return conversation_from_thread(account, emails, LIVE, fetched_at) if emails else None
    chat = await client.get_chat(external_id, account_id=account.unipile_id)
    if not is_upstream_of(account, chat.account_id):
        return None
    return conversation_from_chat(account, chat, LIVE, fetched_at)


async def conversation_by_key(
    reading: Reading, unipile: UnipileClient, account_id: int, external_id: str
) -> ConversationFacts | None:
    """One conversation, live; None when it does not exist or the viewer may not see it.

    When UniPile fails, a stored conversation is served from its copy (`source: STORED`) next to
    the error that names the account; one that is not stored fails with that error."""
    account = reading.scope.account(account_id)
    if account is None:
        return None
    try:
        record = await fetch_record(unipile, account, external_id)
    except NotFoundError:
        return None
    except UnipileError as error:
        problem = upstream_error(account, error)
        record = await stored_record_of(account, external_id)
        if record is None:
            raise problem from None
        reading.problems.append(problem)
    if record is None:
        return None
    [facts] = await load_facts(reading, [record])
    return facts


async def stored_record_of(account: Account, external_id: str) -> ConversationRecord | None:
    """The account's stored copy of the conversation, in the live shape; None if not stored."""
    stored = await Conversation.get_or_none(account_id=account.id, external_id=external_id)
    if stored is None:
        return None
    [record] = await stored_records({account.id: account}, [stored])
    return record


def conversation_key(key: str) -> tuple[int, str] | None:
    """`account:UniPile id`, with an id UniPile could have issued; anything else names nothing."""
    account_part, _, external_id = key.partition(":")
    account_id = primary_key(account_part)
    if account_id is None or not is_valid_id(external_id):
        return None
    return account_id, external_id


def stored_conversation_record(
    account: Account,
    conversation: Conversation,
    participants: Sequence[ConversationParticipant],
) -> ConversationRecord:
    """A stored conversation in the live shape."""
    return ConversationRecord(
        account=account,
        last_message_preview=None,
        has_attachments=False,
        **same_fields(conversation, CONVERSATION_FIELDS),
        participants=tuple(
            ParticipantRecord(p.identifier, p.identifier_type, p.display_name, p.role, p.is_self)
            for p in participants
        ),
        source=ConversationSource.STORED,
    )


async def stored_records(
    accounts: Mapping[int, Account], conversations: Sequence[Conversation]
) -> list[ConversationRecord]:
    """Stored conversations in the live shape, their participants read in one query."""
    people = await ConversationParticipant.filter(
        conversation_id__in=[c.id for c in conversations]
    ).order_by("id")
    by_conversation: dict[int, list[ConversationParticipant]] = {}
    for person in people:
        by_conversation.setdefault(person.conversation_id, []).append(person)
    return [
        stored_conversation_record(accounts[c.account_id], c, by_conversation.get(c.id, []))
        for c in conversations
    ]


def _newer_first_after(
    query: QuerySet[Conversation], after: Position | None
) -> QuerySet[Conversation]:
    """Stored conversations with activity, in the live order, after a lane's position."""
    dated = query.filter(last_message_at__isnull=False)
    if after is None:
        return dated
    if after.at is None:
        return dated.filter(id__lt=0)
    return dated.filter(
        Q(last_message_at__lt=after.at) | Q(last_message_at=after.at, external_id__lt=after.id)
    )


async def stored_after(
    account: Account, state: LaneState, pushed: PushedDown, first: int
) -> list[ConversationRecord]:
    """Up to `first` of an account's stored conversations after its lane's position, newest
    first (those without activity last): what the inbox shows of an account UniPile cannot list.
    A stored copy keeps no folder, so a folder filter finds none."""
    if pushed.folder is not None:
        return []
    query = Conversation.filter(account_id=account.id)
    if pushed.unread:
        query = query.filter(unread_count__gt=0)
    after = state.after
    found = (
        await _newer_first_after(query, after)
        .order_by("-last_message_at", "-external_id")
        .limit(first)
    )
    if len(found) < first:
        undated = query.filter(last_message_at__isnull=True)
        if after is not None and after.at is None:
            undated = undated.filter(external_id__lt=after.id)
        found += await undated.order_by("-external_id").limit(first - len(found))
    return await stored_records({account.id: account}, found)


async def linked_page(
    reading: Reading,
    cursors: ViewerCursors,
    target: CandidateKind,
    pk: int,
    size: int,
    after: str | None,
) -> ConversationPage:
    """A contact's or company's stored and linked conversations, newest first, from the database."""
    list_kind = f"linked-{target.value.lower()}-{pk}"
    offset = cursors.start_offset(list_kind, after)
    accounts = {account.id: account for account in reading.scope.accounts}
    key = {"contact_id": pk} if target is CandidateKind.CONTACT else {"company_id": pk}
    links = await ConversationLink.filter(
        removed_at=None, account_id__in=list(accounts), **key
    ).values_list("account_id", "conversation_external_id")
    pairs = set(links)
    candidates = await Conversation.filter(
        account_id__in=list(accounts), external_id__in=[external for _, external in pairs]
    ).order_by("-last_message_at", "-id")
    linked = [c for c in candidates if (c.account_id, c.external_id) in pairs]
    records = await stored_records(accounts, linked[offset : offset + size])
    facts = await load_facts(reading, records)
    return CursorPage(
        [(item, cursors.offset(list_kind, offset + index)) for index, item in enumerate(facts)],
        has_next_page=offset + size < len(linked),
        has_previous_page=offset > 0,
    )

"""The inbox as GraphQL asks for it: pages of conversations with their facts, for the viewer.

What is returned is domain data; the schema turns it into GraphQL objects. Conversations the
policy stores on sight are queued for storage after the response, never stored here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from core.pages import validate_first
from core.read_ledger import note_unkeepable
from crm import CandidateKind
from inbox import conversations
from inbox.conversations import ConversationPage
from inbox.facts import ConversationFacts
from inbox.filters import InboxFilter
from resolvers.context import Context, StoreScheduler
from storing.automatic import rule_id_of

DEFAULT_PAGE_SIZE = 20


def schedule_auto_storage(
    scheduler: StoreScheduler, facts: Iterable[ConversationFacts], seen_at: float
) -> None:
    for item in facts:
        if item.decision.auto_store and item.state.stored_id is None:
            # The page given again would queue nothing: it is not kept while it queues.
            note_unkeepable()
            scheduler.schedule(
                item.record.account.id,
                item.record.external_id,
                item.decision.reason,
                rule_id_of(item.decision),
                seen_at,
            )


async def inbox_page(
    context: Context, first: int | None, after: str | None, inbox_filter: InboxFilter
) -> ConversationPage:
    size = validate_first(first, DEFAULT_PAGE_SIZE)
    pager = context.pager(f"inbox:{inbox_filter.key}")
    seen_at = time.monotonic()
    page = await conversations.inbox_page(
        await context.reading(), context.services.live_cache, pager, inbox_filter, size, after
    )
    schedule_auto_storage(context.services.auto_store, (facts for facts, _ in page.edges), seen_at)
    return page


async def conversation_by_key(
    context: Context, account_id: int, external_id: str
) -> ConversationFacts | None:
    reading = await context.reading()
    return await conversations.conversation_by_key(
        reading, context.services.unipile, account_id, external_id
    )


async def linked_conversations(
    context: Context, target: CandidateKind, pk: int, first: int | None, after: str | None
) -> ConversationPage:
    size = validate_first(first, DEFAULT_PAGE_SIZE)
    reading = await context.reading()
    return await conversations.linked_page(reading, context.cursors(), target, pk, size, after)

"""A conversation's messages as GraphQL asks for them: the stored copy when there is one, else
live; every edge's cursor resumes right after it."""

from __future__ import annotations

from collections.abc import Mapping

from core.pages import validate_first
from inbox import messages
from inbox.messages import MessageFacts, MessagePage
from inbox.records import ConversationRecord, MessageRecord
from resolvers.context import Context

DEFAULT_MESSAGES = 20


async def conversation_messages(
    context: Context,
    conversation: ConversationRecord,
    stored_id: int | None,
    names: Mapping[str, str | None],
    first: int,
    after: str | None,
) -> MessagePage:
    size = validate_first(first, DEFAULT_MESSAGES)
    if stored_id is None:
        pager = context.pager(f"messages:{conversation.account.id}:{conversation.external_id}")
        read = await messages.live_messages(
            context.services.unipile, pager, conversation, names, size, after
        )
    else:
        read = await messages.stored_messages(
            context.cursors(), conversation, stored_id, size, after
        )
    records, cursors, has_next_page = read
    return await messages.message_page(
        await context.reading(), records, cursors, has_next_page, after is not None
    )


async def message_facts(context: Context, records: list[MessageRecord]) -> list[MessageFacts]:
    return await messages.load_message_facts(await context.reading(), records)


async def message_by_key(context: Context, key: str) -> MessageFacts | None:
    return await messages.message_by_key(await context.reading(), context.services.unipile, key)

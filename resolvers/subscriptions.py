"""Subscriptions: the workspace's events, kept to what the viewer may see, with their facts.

Strawberry builds one context per WebSocket; each event gets a fresh one (`Context.fresh`) so
that no loader caches across events. An event's facts (CRM matches, storage) are the same for
every viewer of the workspace, so a process computes them once per event (`SharedResults`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from access.scope import ViewerScope
from core.vocabulary import Channel
from db.models import Account
from inbox.facts import ConversationFacts, load_facts
from inbox.messages import MessageFacts, load_message_facts
from inbox.records import (
    ConversationRecord,
    MessageRecord,
    conversation_from_json,
    message_from_json,
)
from realtime.topics import (
    workspace_accounts_topic,
    workspace_conversations_topic,
    workspace_messages_topic,
)
from resolvers.context import Context
from resolvers.conversations import conversation_by_key

Event = dict[str, Any]
ScopeOf = Callable[[Context, Event], Awaitable[ViewerScope]]


@dataclass(frozen=True, slots=True)
class EventFilter:
    conversation: tuple[int, str] | None = None
    account_ids: frozenset[int] | None = None
    channels: frozenset[Channel] | None = None

    def admits(self, account_id: int, channel: Channel, external_id: str) -> bool:
        return (
            (self.conversation is None or self.conversation == (account_id, external_id))
            and (self.account_ids is None or account_id in self.account_ids)
            and (self.channels is None or channel in self.channels)
        )


@dataclass(frozen=True, slots=True)
class MessageDelivery:
    """A new message, and its conversation as the inbox shows it, for one viewer."""

    viewer_id: int
    conversation: ConversationFacts
    message: MessageFacts


@dataclass(frozen=True, slots=True)
class ConversationChanged:
    viewer_id: int
    account_id: int
    external_id: str
    change: str
    # As it is now; None when it no longer exists upstream.
    conversation: ConversationFacts | None


async def _fresh_scope(fresh: Context, event: Event) -> ViewerScope:
    return await fresh.scope()


async def _shared_scope(fresh: Context, event: Event) -> ViewerScope:
    """The viewer's scope as of this event, read once per user and event in this process."""
    key = f"{event['event_id']}:scope:{fresh.viewer().user_id}"
    scope: ViewerScope = await fresh.services.shared_facts.get(key, fresh.scope)
    return scope


async def _visible_events(
    context: Context, topic: str, scope_of: ScopeOf
) -> AsyncIterator[tuple[Context, Account, Event]]:
    """The topic's events about an account the viewer may see as of each event, each with a fresh
    context and that account. While it listens, the viewer's accounts' first inbox page is kept
    in the live cache."""
    watched = (await context.scope()).accounts
    with context.services.prefetcher.watching(watched):
        async for item in _events_of(context, topic, scope_of):
            yield item


async def _events_of(
    context: Context, topic: str, scope_of: ScopeOf
) -> AsyncIterator[tuple[Context, Account, Event]]:
    async with context.services.pubsub.subscribe(topic) as subscription:
        async for event in subscription:
            fresh = context.fresh()
            scope = await scope_of(fresh, event)
            account = scope.account(int(event["account_id"]))
            if account is not None:
                yield fresh, account, event


@dataclass(frozen=True, slots=True)
class _SharedEvent:
    """What every subscriber of the workspace sees alike: an event's CRM facts and its message."""

    conversation: ConversationFacts
    message: MessageFacts


async def _shared_event(
    context: Context, conversation: ConversationRecord, message: MessageRecord
) -> _SharedEvent:
    reading = await context.reading()
    [facts] = await load_facts(reading, [conversation])
    [message_facts] = await load_message_facts(reading, [message])
    return _SharedEvent(facts, message_facts)


async def messages_received(
    context: Context, wanted: EventFilter
) -> AsyncIterator[MessageDelivery]:
    identity = context.viewer()
    topic = workspace_messages_topic(identity.workspace_id)
    async for fresh, account, event in _visible_events(context, topic, _shared_scope):
        conversation = conversation_from_json(account, event["conversation"])
        if not wanted.admits(account.id, conversation.channel, conversation.external_id):
            continue
        message = message_from_json(event["message"])
        shared: _SharedEvent = await context.services.shared_facts.get(
            str(event["event_id"]), partial(_shared_event, fresh, conversation, message)
        )
        yield MessageDelivery(identity.user_id, shared.conversation, shared.message)


async def conversations_updated(
    context: Context, wanted: EventFilter
) -> AsyncIterator[ConversationChanged]:
    identity = context.viewer()
    topic = workspace_conversations_topic(identity.workspace_id)
    async for fresh, account, event in _visible_events(context, topic, _fresh_scope):
        external_id = str(event["external_id"])
        if not wanted.admits(account.id, account.channel, external_id):
            continue
        yield ConversationChanged(
            identity.user_id,
            account.id,
            external_id,
            str(event["change"]),
            await conversation_by_key(fresh, account.id, external_id),
        )


async def account_statuses(context: Context) -> AsyncIterator[Account]:
    topic = workspace_accounts_topic(context.viewer().workspace_id)
    async for _, account, _ in _visible_events(context, topic, _fresh_scope):
        yield account

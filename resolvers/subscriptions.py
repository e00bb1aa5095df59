"""Subscriptions: the workspace's events, kept to what the viewer may see and shaped per viewer.

Strawberry builds one context per WebSocket; each event gets a fresh one (`Context.fresh`) so
that no loader caches across events. An event's facts (CRM matches, storage) are the same for
every viewer of the workspace, so a process computes them once per event (`SharedFacts`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import strawberry

from access.scope import ViewerScope
from core.ids import from_global_id
from core.vocabulary import Channel
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
from resolvers.conversations import (
    ConversationFacts,
    account_keys,
    channel_set,
    conversation_by_key,
    conversation_id,
    conversation_key,
    conversation_node,
    load_facts,
)
from resolvers.messages import message_nodes
from schema import inbox as types
from schema.viewer import Account


@dataclass(frozen=True, slots=True)
class EventFilter:
    conversation: tuple[int, str] | None = None
    account_ids: frozenset[int] | None = None
    channels: frozenset[Channel] | None = None

    @classmethod
    def from_input(cls, given: types.SubscriptionFilter | None) -> EventFilter:
        if given is None:
            return cls()
        conversation = None
        if given.conversation_id is not None:
            type_name, key = from_global_id(given.conversation_id)
            conversation = conversation_key(key) if type_name == "Conversation" else None
        return cls(
            conversation=conversation,
            account_ids=account_keys(given.account_ids),
            channels=channel_set(given.channels),
        )

    def admits(self, account_id: int, channel: Channel, external_id: str) -> bool:
        return (
            (self.conversation is None or self.conversation == (account_id, external_id))
            and (self.account_ids is None or account_id in self.account_ids)
            and (self.channels is None or channel in self.channels)
        )


async def _events(context: Context, topic: str) -> AsyncIterator[dict[str, Any]]:
    async with context.services.pubsub.subscribe(topic) as subscription:
        async for event in subscription:
            yield event


@dataclass(frozen=True, slots=True)
class SharedEvent:
    """What every subscriber of the workspace sees alike: an event's CRM facts and its message."""

    facts: ConversationFacts
    message: types.Message


async def _shared_event(
    context: Context, conversation: ConversationRecord, message: MessageRecord
) -> SharedEvent:
    [facts] = await load_facts(context, [conversation])
    [node] = await message_nodes(context, [message])
    return SharedEvent(facts, node)


async def _event_scope(context: Context, event_id: str) -> ViewerScope:
    """The viewer's scope as of this event, read once per user and event in this process."""
    key = f"{event_id}:scope:{context.viewer().user_id}"
    scope: ViewerScope = await context.services.shared_facts.get(key, context.fresh().scope)
    return scope


async def messages_received(
    context: Context, given: types.SubscriptionFilter | None
) -> AsyncIterator[types.MessageEvent]:
    identity = context.viewer()
    wanted = EventFilter.from_input(given)
    async for event in _events(context, workspace_messages_topic(identity.workspace_id)):
        event_id = str(event["event_id"])
        scope = await _event_scope(context, event_id)
        account = scope.account(int(event["account_id"]))
        if account is None:
            continue
        conversation = conversation_from_json(account, event["conversation"])
        if not wanted.admits(account.id, conversation.channel, conversation.external_id):
            continue
        message = message_from_json(event["message"])
        shared: SharedEvent = await context.services.shared_facts.get(
            event_id, partial(_shared_event, context.fresh(), conversation, message)
        )
        yield types.MessageEvent(
            message=shared.message, conversation=conversation_node(scope, shared.facts)
        )


async def conversations_updated(
    context: Context, given: types.SubscriptionFilter | None
) -> AsyncIterator[types.ConversationEvent]:
    identity = context.viewer()
    wanted = EventFilter.from_input(given)
    async for event in _events(context, workspace_conversations_topic(identity.workspace_id)):
        fresh = context.fresh()
        scope = await fresh.scope()
        account = scope.account(int(event["account_id"]))
        external_id = str(event["external_id"])
        if account is None or not wanted.admits(account.id, account.channel, external_id):
            continue
        yield types.ConversationEvent(
            conversation_id=strawberry.ID(conversation_id(account.id, external_id)),
            change=types.ConversationChange(event["change"]),
            conversation=await conversation_by_key(fresh, account.id, external_id),
        )


async def account_statuses(context: Context) -> AsyncIterator[Account]:
    identity = context.viewer()
    async for event in _events(context, workspace_accounts_topic(identity.workspace_id)):
        scope = await context.fresh().scope()
        account = scope.account(int(event["account_id"]))
        if account is not None:
            yield Account.from_model(account, identity.user_id)

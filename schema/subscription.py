"""The root subscription: new messages, conversation changes and account status, live."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from core.errors import BadUserInput
from core.ids import key_of, shown
from inbox.conversations import conversation_key
from inbox.messages import MessageFacts
from resolvers.context import Context
from resolvers.subscriptions import (
    EventFilter,
    account_statuses,
    conversations_updated,
    messages_received,
)
from schema.inbox import (
    Conversation,
    ConversationChange,
    ConversationEvent,
    Message,
    MessageEvent,
    SubscriptionFilter,
    account_keys,
    channel_set,
    conversation_id,
)
from schema.inputs import check
from schema.viewer import Account

SHARED_MESSAGES = 256


class _SharedMessages:
    """An event's `Message`, built once per process for all its subscribers: unlike its
    conversation (`isMine`), a message is the same for every viewer. The facts are kept with it,
    so that their id is not reused while the entry lives."""

    def __init__(self, size: int = SHARED_MESSAGES) -> None:
        self.size = size
        self._built: OrderedDict[int, tuple[MessageFacts, Message]] = OrderedDict()

    def of(self, facts: MessageFacts) -> Message:
        entry = self._built.get(id(facts))
        if entry is not None and entry[0] is facts:
            return entry[1]
        message = Message.from_facts(facts)
        self._built[id(facts)] = (facts, message)
        while len(self._built) > self.size:
            self._built.popitem(last=False)
        return message


_shared_messages = _SharedMessages()


def event_filter(given: SubscriptionFilter | None) -> EventFilter:
    if given is None:
        return EventFilter()
    check(given, "filter")
    conversation = None
    if given.conversation_id is not None:
        conversation = _conversation(given.conversation_id)
    return EventFilter(
        conversation=conversation,
        account_ids=account_keys(given.account_ids),
        channels=channel_set(given.channels),
    )


def _conversation(global_id: str) -> tuple[int, str]:
    """The conversation a filter names; an id of anything else is refused, not ignored (which
    would leave the subscription unfiltered)."""
    typed = key_of(global_id, "Conversation")
    conversation = None if typed is None else conversation_key(typed[1])
    if conversation is None:
        raise BadUserInput(
            f"{shown(global_id)} is not the id of a Conversation", argument="filter.conversationId"
        )
    return conversation


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Each new message of the accounts the viewer may see.")
    async def message_received(
        self, info: Info[Context, None], filter: SubscriptionFilter | None = None
    ) -> AsyncGenerator[MessageEvent, None]:
        async for delivery in messages_received(info.context, event_filter(filter)):
            yield MessageEvent(
                message=_shared_messages.of(delivery.message),
                conversation=Conversation.from_facts(delivery.conversation, delivery.viewer_id),
            )

    @strawberry.subscription(
        description="Conversations stored, linked, unlinked, forgotten or read."
    )
    async def conversation_updated(
        self, info: Info[Context, None], filter: SubscriptionFilter | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        async for changed in conversations_updated(info.context, event_filter(filter)):
            facts = changed.conversation
            yield ConversationEvent(
                conversation_id=strawberry.ID(
                    conversation_id(changed.account_id, changed.external_id)
                ),
                change=ConversationChange(changed.change),
                conversation=None
                if facts is None
                else Conversation.from_facts(facts, changed.viewer_id),
            )

    @strawberry.subscription(description="An account the viewer may see changed status.")
    async def account_status_changed(
        self, info: Info[Context, None]
    ) -> AsyncGenerator[Account, None]:
        viewer_id = info.context.viewer().user_id
        async for account in account_statuses(info.context):
            yield Account.from_model(account, viewer_id)

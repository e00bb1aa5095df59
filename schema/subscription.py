"""The root subscription: new messages, conversation changes and account status, live."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.subscriptions import account_statuses, conversations_updated, messages_received
from schema.inbox import ConversationEvent, MessageEvent, SubscriptionFilter
from schema.viewer import Account


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Each new message of the accounts the viewer may see.")
    async def message_received(
        self, info: Info[Context, None], filter: SubscriptionFilter | None = None
    ) -> AsyncGenerator[MessageEvent, None]:
        async for event in messages_received(info.context, filter):
            yield event

    @strawberry.subscription(
        description="Conversations stored, linked, unlinked, forgotten or read."
    )
    async def conversation_updated(
        self, info: Info[Context, None], filter: SubscriptionFilter | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        async for event in conversations_updated(info.context, filter):
            yield event

    @strawberry.subscription(description="An account the viewer may see changed status.")
    async def account_status_changed(
        self, info: Info[Context, None]
    ) -> AsyncGenerator[Account, None]:
        async for account in account_statuses(info.context):
            yield account

"""Processing UniPile's message and email webhooks: read the new message, keep the stored copy in
step, and publish it to the workspace's subscribers.

The webhook payload is thin and loosely specified, so the message and its conversation are read
back from UniPile (one or two requests, after the webhook was acknowledged). What UniPile sends is
made storable (`db.text.storable`) before the hooks store it and subscribers see it: a sender's
U+0000 would otherwise fail the event on PostgreSQL, at every retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from db.models import Account, Message, WebhookReceipt
from db.text import storable
from inbox.live_cache import LiveCache
from inbox.loaders import AttendeeCache
from inbox.records import (
    ConversationRecord,
    MessageRecord,
    conversation_from_chat,
    conversation_from_thread,
    conversation_to_json,
    message_from_chat_message,
    message_from_email,
    message_to_json,
    thread_id_of,
)
from realtime.live_lists import live_lists_changed
from realtime.receipts import Publication
from realtime.topics import workspace_conversations_topic, workspace_messages_topic
from unipile import NotFoundError, UnipileClient

log = logging.getLogger(__name__)

THREAD_WINDOW = 50

NewMessageHook = Callable[[Account, ConversationRecord, MessageRecord], Awaitable[None]]


class MessageEvents:
    """The handlers of message events, for `ReceiptProcessor.on`."""

    def __init__(
        self,
        client: UnipileClient,
        attendees: AttendeeCache,
        live_cache: LiveCache,
        on_new_message: Sequence[NewMessageHook] = (),
    ) -> None:
        self.client = client
        self.attendees = attendees
        self.live_cache = live_cache
        self.on_new_message = tuple(on_new_message)

    async def chat_message(self, receipt: WebhookReceipt) -> Sequence[Publication]:
        payload = receipt.payload
        account = await Account.get_or_none(
            unipile_id=str(payload.get("account_id", "")), detached_at=None
        )
        if account is None:
            return []
        try:
            # Both at once: the subscribers wait for them.
            chat, message = await asyncio.gather(
                self.client.get_chat(str(payload["chat_id"]), account_id=account.unipile_id),
                self.client.get_message(str(payload["message_id"])),
            )
        except NotFoundError:
            log.info("message %s is gone upstream; nothing to publish", payload.get("message_id"))
            return []
        # A group's members may have changed with this message (a join is a message too).
        self.attendees.forget((account.unipile_id, chat.id))
        sender_name = (payload.get("sender") or {}).get("attendee_name")
        record = message_from_chat_message(account, message, sender_name)
        return await self._new_message(
            account, conversation_from_chat(account, chat), record, receipt
        )

    async def email(self, receipt: WebhookReceipt) -> Sequence[Publication]:
        payload = receipt.payload
        account = await Account.get_or_none(
            unipile_id=str(payload.get("account_id", "")), detached_at=None
        )
        if account is None:
            return []
        email_id = str(payload["email_id"])
        thread_id = payload.get("thread_id") or email_id
        thread = await self.client.list_emails(
            account_id=account.unipile_id, thread_id=str(thread_id), limit=THREAD_WINDOW
        )
        email = next((item for item in thread.items if item.id == email_id), None)
        if email is None:
            email = await self.client.get_email(email_id, account_id=account.unipile_id)
        emails = list(thread.items) or [email]
        record = message_from_email(account, email)
        conversation = conversation_from_thread(account, emails)
        assert conversation.external_id == thread_id_of(email), "an email belongs to its own thread"
        return await self._new_message(account, conversation, record, receipt)

    async def chat_read(self, receipt: WebhookReceipt) -> Sequence[Publication]:
        """A message was read: the stored copy says so too."""
        account, chat_id = await self._chat_of(receipt)
        if account is None or chat_id is None:
            return []
        message_id = receipt.payload.get("message_id")
        if message_id is not None:
            await Message.filter(
                conversation__account_id=account.id,
                conversation__external_id=chat_id,
                external_id=str(message_id),
            ).update(is_read=True)
        changed = await live_lists_changed(self.live_cache, account)
        return [changed, conversation_update(account, chat_id, "READ_STATE")]

    async def chat_reaction(self, receipt: WebhookReceipt) -> Sequence[Publication]:
        """Reactions are not stored (a stored message has no field for them): only published."""
        account, chat_id = await self._chat_of(receipt)
        if account is None or chat_id is None:
            return []
        changed = await live_lists_changed(self.live_cache, account)
        return [changed, conversation_update(account, chat_id, "REACTION")]

    async def _chat_of(self, receipt: WebhookReceipt) -> tuple[Account | None, str | None]:
        payload = receipt.payload
        account = await Account.get_or_none(
            unipile_id=str(payload.get("account_id", "")), detached_at=None
        )
        chat_id = payload.get("chat_id")
        return account, None if chat_id is None else str(chat_id)

    async def _new_message(
        self,
        account: Account,
        conversation: ConversationRecord,
        record: MessageRecord,
        receipt: WebhookReceipt,
    ) -> Sequence[Publication]:
        conversation, record = storable(conversation), storable(record)
        for hook in self.on_new_message:
            await hook(account, conversation, record)
        # Before the event goes out: a subscriber that reads the inbox on it reads it fresh.
        changed = await live_lists_changed(self.live_cache, account)
        event: dict[str, Any] = {
            "type": "message",
            "event_id": receipt.event_key,
            "account_id": account.id,
            "conversation": conversation_to_json(conversation),
            "message": message_to_json(record),
        }
        # The event first: the pre-fetching the change starts would hold up its subscribers.
        return [Publication(workspace_messages_topic(account.workspace_id), event), changed]


def conversation_update(account: Account, external_id: str, change: str) -> Publication:
    """An event for `conversationUpdated` subscribers."""
    return Publication(
        workspace_conversations_topic(account.workspace_id),
        {
            "type": "conversation",
            "account_id": account.id,
            "external_id": external_id,
            "change": change,
        },
    )

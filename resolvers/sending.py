"""Sending as GraphQL asks for it: the viewer's workspace's outbox."""

from __future__ import annotations

from collections.abc import Sequence

from db.models import Account
from inbox.records import MessageRecord
from resolvers.context import Context
from sending import messages
from sending.messages import Outbox


def _outbox(context: Context) -> Outbox:
    return Outbox(context.services.unipile, context.viewer().workspace_id)


async def send_chat_message(
    context: Context, account: Account, chat_id: str, text: str, key: str | None
) -> MessageRecord:
    return await messages.send_chat_message(_outbox(context), account, chat_id, text, key)


async def reply_to_thread(
    context: Context,
    account: Account,
    thread_id: str,
    html: str,
    cc: Sequence[str],
    bcc: Sequence[str],
    key: str | None,
) -> MessageRecord:
    return await messages.reply_to_thread(_outbox(context), account, thread_id, html, cc, bcc, key)

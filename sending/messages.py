"""Sending: a chat message, or a reply to all on an email thread, sent once per idempotency key.

A key is recorded before UniPile is asked; a retry with the same key gets the first call's
message instead of sending again. A send that UniPile accepted is read back and appended to the
stored copy, when there is one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from core.errors import BadUserInput, Conflict, NotFound, SwitchboardError
from core.vocabulary import Channel
from db.models import Account, OutboundMessage
from inbox.facts import upstream_error
from inbox.live_cache import LiveCache
from inbox.records import MessageRecord, is_own, message_from_chat_message, message_from_email
from storing.copies import append_message
from unipile import (
    Email,
    EmailAttendee,
    NotFoundError,
    UnipileClient,
    UnipileError,
    may_have_been_accepted,
)

THREAD_WINDOW = 50


@dataclass(frozen=True, slots=True)
class Outbox:
    """One workspace's sends through UniPile, keyed per workspace; a send changes the account's
    live lists, so it ends their cached pages."""

    client: UnipileClient
    live_cache: LiveCache
    workspace_id: int


class SendInProgress(Conflict):
    """A send with this key was started and its outcome is unknown: never sent twice."""


async def _claim(
    outbox: Outbox, account: Account, external_id: str, key: str | None
) -> OutboundMessage | None:
    """The earlier send with this key, or None after recording this one as started."""
    if key is None:
        return None
    workspace_id = outbox.workspace_id
    try:
        await OutboundMessage.create(
            workspace_id=workspace_id,
            idempotency_key=key,
            account_id=account.id,
            conversation_external_id=external_id,
        )
    except IntegrityError:
        earlier = await OutboundMessage.get(workspace_id=workspace_id, idempotency_key=key)
        if (earlier.account_id, earlier.conversation_external_id) != (account.id, external_id):
            raise BadUserInput(
                "this idempotency key was used for another conversation", argument="idempotencyKey"
            ) from None
        return earlier
    return None


async def _record(outbox: Outbox, key: str | None, external_id: str | None) -> None:
    if key is not None and external_id is not None:
        await OutboundMessage.filter(workspace_id=outbox.workspace_id, idempotency_key=key).update(
            external_id=external_id
        )


async def _release(outbox: Outbox, key: str | None) -> None:
    if key is not None:
        await OutboundMessage.filter(
            workspace_id=outbox.workspace_id, idempotency_key=key, external_id=None
        ).delete()


async def _read_back(outbox: Outbox, account: Account, message_id: str) -> MessageRecord:
    client = outbox.client
    if account.channel is Channel.EMAIL:
        return message_from_email(
            account, await client.get_email(message_id, account_id=account.unipile_id)
        )
    return message_from_chat_message(account, await client.get_message(message_id), None)


async def _finish(
    outbox: Outbox, account: Account, key: str | None, message_id: str | None
) -> MessageRecord:
    await _record(outbox, key, message_id)
    await outbox.live_cache.invalidate([account.unipile_id])
    if message_id is None:
        raise SendInProgress(
            "UniPile accepted the message without giving its id", argument="idempotencyKey"
        )
    record = await _read_back(outbox, account, message_id)
    await append_message(account, record)
    return record


async def _earlier(outbox: Outbox, account: Account, earlier: OutboundMessage) -> MessageRecord:
    if earlier.external_id is None:
        raise SendInProgress(
            "a send with this key is in progress or failed midway; it is not sent again",
            argument="idempotencyKey",
        )
    return await _read_back(outbox, account, earlier.external_id)


async def _send_once(
    outbox: Outbox,
    account: Account,
    external_id: str,
    key: str | None,
    deliver: Callable[[], Awaitable[str | None]],
) -> MessageRecord:
    """Send through `deliver` (which returns UniPile's message id) at most once per key. The key
    is released when UniPile surely did not take the message, so that it can be sent with it."""
    earlier = await _claim(outbox, account, external_id, key)
    if earlier is not None:
        return await _earlier(outbox, account, earlier)
    try:
        message_id = await deliver()
    except UnipileError as error:
        if not may_have_been_accepted(error):
            await _release(outbox, key)
        raise _answer(account, error) from None
    return await _finish(outbox, account, key, message_id)


def _answer(account: Account, error: UnipileError) -> SwitchboardError:
    if isinstance(error, NotFoundError):
        return NotFound("no such conversation", argument="conversationId")
    return upstream_error(account, error)


async def send_chat_message(
    outbox: Outbox, account: Account, chat_id: str, text: str, key: str | None
) -> MessageRecord:
    if account.channel is Channel.EMAIL:
        raise BadUserInput(
            "this is an email thread: use replyToConversation", argument="conversationId"
        )
    if not text.strip():
        raise BadUserInput("the message is empty", argument="text")

    async def deliver() -> str | None:
        sent = await outbox.client.send_chat_message(
            chat_id, text=text, account_id=account.unipile_id
        )
        return sent.message_id

    return await _send_once(outbox, account, chat_id, key, deliver)


def _reply_all(
    account: Account, newest: Email, cc: Sequence[str]
) -> tuple[list[EmailAttendee], list[EmailAttendee]]:
    """To: the newest email's sender and recipients; cc: its cc and the given ones; never us."""
    people = [newest.from_attendee] if newest.from_attendee else []
    to = [a for a in [*people, *newest.to_attendees] if not is_own(account, a.identifier)]
    copied = [a for a in newest.cc_attendees if not is_own(account, a.identifier)]
    extra = [
        EmailAttendee(identifier=address, identifier_type="EMAIL_ADDRESS", display_name=None)
        for address in cc
    ]
    return _unique(to), _unique([*copied, *extra])


def _unique(attendees: list[EmailAttendee]) -> list[EmailAttendee]:
    seen: dict[str, EmailAttendee] = {}
    for attendee in attendees:
        seen.setdefault(attendee.identifier.strip().lower(), attendee)
    return list(seen.values())


async def reply_to_thread(
    outbox: Outbox,
    account: Account,
    thread_id: str,
    html: str,
    cc: Sequence[str],
    bcc: Sequence[str],
    key: str | None,
) -> MessageRecord:
    if account.channel is not Channel.EMAIL:
        raise BadUserInput("this is a chat: use sendMessage", argument="conversationId")
    if not html.strip():
        raise BadUserInput("the reply is empty", argument="html")
    client = outbox.client
    # Read before the key is claimed: a failure here has sent nothing.
    try:
        thread = await client.list_emails(
            account_id=account.unipile_id, thread_id=thread_id, meta_only=True, limit=THREAD_WINDOW
        )
    except UnipileError as error:
        raise _answer(account, error) from None
    if not thread.items:
        raise NotFound("no such conversation", argument="conversationId")
    newest = thread.items[0]
    to, copied = _reply_all(account, newest, cc)

    async def deliver() -> str | None:
        subject = newest.subject or ""
        sent = await client.send_email(
            account_id=account.unipile_id,
            body=html,
            to=to,
            cc=copied,
            bcc=list(bcc),
            subject=subject if subject.lower().startswith("re:") else f"Re: {subject}",
            reply_to=newest.id,
        )
        return sent.id

    return await _send_once(outbox, account, thread_id, key, deliver)

"""Mutations on conversations: link, unlink, store, forget, read state; single and in bulk."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import strawberry
from strawberry.types import Info

from core.errors import BadUserInput, SwitchboardError
from core.vocabulary import StorageReason
from db.models import Account
from inbox.records import MessageRecord
from resolvers import conversation_mutations as actions
from resolvers.context import Context
from resolvers.conversations import conversation_by_key
from resolvers.messages import message_facts
from schema.inbox import Conversation, Message
from schema.inputs import (
    HTML_LENGTH,
    IDEMPOTENCY_KEY_LENGTH,
    IDENTIFIER_LENGTH,
    TEXT_LENGTH,
    bounds,
    check,
    echo,
)
from schema.mutation_errors import MutationError
from sending import messages as sending

MAX_BULK = 100

T = TypeVar("T")


@strawberry.input
class LinkConversationInput:
    conversation_id: strawberry.ID
    contact_id: strawberry.ID | None = None
    company_id: strawberry.ID | None = None


@strawberry.input
class ConversationInput:
    conversation_id: strawberry.ID


@strawberry.input
class ConversationsInput:
    conversation_ids: list[strawberry.ID] = strawberry.field(description=f"At most {MAX_BULK}.")


@strawberry.input
class LinkConversationsInput:
    items: list[LinkConversationInput] = strawberry.field(description=f"At most {MAX_BULK}.")


@strawberry.input
class ForgetConversationInput:
    conversation_id: strawberry.ID
    unlink: bool = strawberry.field(
        default=False, description="Also unlink it (a linked conversation is otherwise kept)."
    )


@strawberry.input
class ForgetIdentifierInput:
    identifier: str = strawberry.field(
        description="An email address or phone number.", metadata=bounds(IDENTIFIER_LENGTH)
    )


@strawberry.input
class MarkConversationReadInput:
    conversation_id: strawberry.ID
    read: bool = True


@strawberry.type(
    description="The conversation as it is after the mutation, or why nothing was done."
)
class ConversationPayload:
    conversation_id: strawberry.ID
    conversation: Conversation | None = None
    messages_added: int = strawberry.field(default=0, description="Messages this call stored.")
    error: MutationError | None = None


@strawberry.type(
    description="One result per item, in order; a failing item does not undo the others."
)
class BulkConversationPayload:
    results: list[ConversationPayload]
    error: MutationError | None = None


@strawberry.type
class ForgetConversationPayload:
    forgotten: bool
    error: MutationError | None = None


@strawberry.type
class ForgetIdentifierPayload:
    messages_deleted: int
    error: MutationError | None = None


# An action on one of the viewer's conversations, given its account and UniPile id; it returns
# the number of messages it stored.
Action = Callable[[Account, str], Awaitable[int]]


async def _conversation_payload(
    context: Context, conversation_id: strawberry.ID, action: Action, given: object = None
) -> ConversationPayload:
    """`given`: the rest of the input (or of the bulk input's item), checked first too."""
    try:
        check(conversation_id, "conversationId", is_id=True)
        check(given, "")
        account, external_id = await actions.owned_conversation(context, conversation_id)
        added = await action(account, external_id)
        facts = await conversation_by_key(context.fresh(), account.id, external_id)
    except SwitchboardError as error:
        return ConversationPayload(
            conversation_id=strawberry.ID(echo(conversation_id)), error=MutationError.of(error)
        )
    conversation = (
        None if facts is None else Conversation.from_facts(facts, context.viewer().user_id)
    )
    return ConversationPayload(
        conversation_id=conversation_id, conversation=conversation, messages_added=added
    )


async def _link(context: Context, item: LinkConversationInput) -> ConversationPayload:
    async def act(account: Account, external_id: str) -> int:
        target = await actions.link_target(context, item.contact_id, item.company_id)
        await actions.link(context, account, external_id, target)
        return 0

    return await _conversation_payload(context, item.conversation_id, act, item)


async def _store(context: Context, conversation_id: strawberry.ID) -> ConversationPayload:
    async def act(account: Account, external_id: str) -> int:
        result = await actions.store(context, account, external_id, StorageReason.MANUAL_STORE)
        await actions.publish_change(context, account, external_id, "STORED")
        return result.added

    return await _conversation_payload(context, conversation_id, act)


async def _each(
    items: Sequence[T], act: Callable[[T], Awaitable[ConversationPayload]]
) -> BulkConversationPayload:
    """`act` on each item in turn, or on none when there are more than `MAX_BULK`."""
    if len(items) > MAX_BULK:
        error = BadUserInput(f"at most {MAX_BULK} items at once", argument="input")
        return BulkConversationPayload(results=[], error=MutationError.of(error))
    return BulkConversationPayload(results=[await act(item) for item in items])


@strawberry.type
class ConversationMutation:
    @strawberry.mutation(
        description="Link a conversation to a contact or company, and store it (MANUAL_LINK)."
    )
    async def link_conversation(
        self, info: Info[Context, None], input: LinkConversationInput
    ) -> ConversationPayload:
        info.context.viewer()
        return await _link(info.context, input)

    @strawberry.mutation(
        description=(
            "Remove a link; a tombstone keeps the matcher from linking it again."
            " The stored copy stays."
        )
    )
    async def unlink_conversation(
        self, info: Info[Context, None], input: LinkConversationInput
    ) -> ConversationPayload:
        context = info.context
        context.viewer()

        async def act(account: Account, external_id: str) -> int:
            target = await actions.link_target(context, input.contact_id, input.company_id)
            await actions.unlink(context, account, external_id, target)
            return 0

        return await _conversation_payload(context, input.conversation_id, act, input)

    @strawberry.mutation(
        description=(
            "Copy a conversation into the CRM within its channel's sync limits;"
            " again, to add new messages."
        )
    )
    async def store_conversation(
        self, info: Info[Context, None], input: ConversationInput
    ) -> ConversationPayload:
        info.context.viewer()
        return await _store(info.context, input.conversation_id)

    @strawberry.mutation(description=f"Store up to {MAX_BULK} conversations.")
    async def store_conversations(
        self, info: Info[Context, None], input: ConversationsInput
    ) -> BulkConversationPayload:
        info.context.viewer()
        return await _each(input.conversation_ids, lambda i: _store(info.context, i))

    @strawberry.mutation(description=f"Link up to {MAX_BULK} conversations.")
    async def link_conversations(
        self, info: Info[Context, None], input: LinkConversationsInput
    ) -> BulkConversationPayload:
        info.context.viewer()
        return await _each(input.items, lambda item: _link(info.context, item))

    @strawberry.mutation(
        description="Delete the stored copy (refused while linked, unless `unlink`)."
    )
    async def forget_conversation(
        self, info: Info[Context, None], input: ForgetConversationInput
    ) -> ForgetConversationPayload:
        context = info.context
        context.viewer()
        try:
            check(input, "")
            account, external_id = await actions.known_conversation(context, input.conversation_id)
            forgotten = await actions.forget(context, account, external_id, input.unlink)
        except SwitchboardError as error:
            return ForgetConversationPayload(forgotten=False, error=MutationError.of(error))
        return ForgetConversationPayload(forgotten=forgotten)

    @strawberry.mutation(
        description=(
            "Delete every stored message and participant involving an address or number,"
            " and never store it again."
        )
    )
    async def forget_identifier(
        self, info: Info[Context, None], input: ForgetIdentifierInput
    ) -> ForgetIdentifierPayload:
        info.context.viewer()
        try:
            check(input, "")
            deleted = await actions.forget_identifier(info.context, input.identifier)
        except SwitchboardError as error:
            return ForgetIdentifierPayload(messages_deleted=0, error=MutationError.of(error))
        return ForgetIdentifierPayload(messages_deleted=deleted)

    @strawberry.mutation(
        description="Mark a conversation read or unread, through UniPile; the stored copy follows."
    )
    async def mark_conversation_read(
        self, info: Info[Context, None], input: MarkConversationReadInput
    ) -> ConversationPayload:
        context = info.context
        context.viewer()

        async def act(account: Account, external_id: str) -> int:
            await actions.mark_read(context, account, external_id, input.read)
            return 0

        return await _conversation_payload(context, input.conversation_id, act, input)


@strawberry.input
class SendMessageInput:
    conversation_id: strawberry.ID
    text: str = strawberry.field(metadata=bounds(TEXT_LENGTH))
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retried call with the same key sends once.",
        metadata=bounds(IDEMPOTENCY_KEY_LENGTH),
    )


@strawberry.input
class ReplyToConversationInput:
    conversation_id: strawberry.ID
    html: str = strawberry.field(metadata=bounds(HTML_LENGTH))
    cc: list[str] = strawberry.field(default_factory=list, metadata=bounds(IDENTIFIER_LENGTH))
    bcc: list[str] = strawberry.field(default_factory=list, metadata=bounds(IDENTIFIER_LENGTH))
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retried call with the same key sends once.",
        metadata=bounds(IDEMPOTENCY_KEY_LENGTH),
    )


@strawberry.type
class MessagePayload:
    message: Message | None = None
    error: MutationError | None = None


async def _message_payload(
    context: Context,
    given: SendMessageInput | ReplyToConversationInput,
    send: Callable[[Account, str], Awaitable[MessageRecord]],
) -> MessagePayload:
    try:
        check(given, "")
        account, external_id = await actions.owned_conversation(context, given.conversation_id)
        record = await send(account, external_id)
    except SwitchboardError as error:
        return MessagePayload(error=MutationError.of(error))
    [facts] = await message_facts(context.fresh(), [record])
    return MessagePayload(message=Message.from_facts(facts))


@strawberry.type
class SendingMutation:
    @strawberry.mutation(description="Send a message to a chat.")
    async def send_message(
        self, info: Info[Context, None], input: SendMessageInput
    ) -> MessagePayload:
        context = info.context
        context.viewer()

        async def send(account: Account, external_id: str) -> MessageRecord:
            return await sending.send_chat_message(
                context.outbox(), account, external_id, input.text, input.idempotency_key
            )

        return await _message_payload(context, input, send)

    @strawberry.mutation(
        description="Reply to all on an email thread (threaded with `reply_to`), adding cc and bcc."
    )
    async def reply_to_conversation(
        self, info: Info[Context, None], input: ReplyToConversationInput
    ) -> MessagePayload:
        context = info.context
        context.viewer()

        async def send(account: Account, external_id: str) -> MessageRecord:
            return await sending.reply_to_thread(
                context.outbox(),
                account,
                external_id,
                input.html,
                input.cc,
                input.bcc,
                input.idempotency_key,
            )

        return await _message_payload(context, input, send)

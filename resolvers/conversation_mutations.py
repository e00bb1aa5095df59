"""Acting on conversations as GraphQL asks: link, unlink, store, forget, read state.

Each action is scoped to the viewer (a conversation of an account they may not use is reported
as not found), safe to retry, and publishes a `conversationUpdated` event once it is done.
"""

from __future__ import annotations

from core.errors import BadUserInput, NotFound
from core.ids import from_global_id, int_key
from core.vocabulary import StorageReason
from crm import CandidateKind
from db.models import Account, Conversation, ConversationLink
from inbox.conversations import conversation_key, fetch_record
from inbox.facts import upstream_error
from realtime.message_events import conversation_update
from resolvers.context import Context
from storing import actions
from storing.actions import Target
from storing.copies import StoreResult
from unipile import NotFoundError, UnipileError


async def conversation_account(context: Context, global_id: str) -> tuple[Account, str]:
    """The viewer's account and the UniPile id of a conversation id; NOT_FOUND otherwise.

    Enough for acting on what is stored about it (every row is keyed by the account); acting
    upstream needs `owned_conversation`."""
    type_name, key = from_global_id(global_id)
    parsed = conversation_key(key) if type_name == "Conversation" else None
    scope = await context.scope()
    account = None if parsed is None else scope.account(parsed[0])
    if parsed is None or account is None:
        raise NotFound("no such conversation", argument="conversationId")
    return account, parsed[1]


async def owned_conversation(context: Context, global_id: str) -> tuple[Account, str]:
    """As `conversation_account`, once UniPile has confirmed the chat or thread is that account's:
    an account id of the viewer's with another account's chat id names nothing."""
    account, external_id = await conversation_account(context, global_id)
    try:
        record = await fetch_record(context.services.unipile, account, external_id)
    except NotFoundError:
        record = None
    except UnipileError as error:
        raise upstream_error(account, error) from None
    if record is None:
        raise NotFound("no such conversation", argument="conversationId")
    return account, external_id


async def known_conversation(context: Context, global_id: str) -> tuple[Account, str]:
    """A conversation something is stored about (a copy, a link), without asking UniPile, so that
    it can be forgotten while UniPile is down; otherwise one UniPile confirms is the account's."""
    account, external_id = await conversation_account(context, global_id)
    stored = await Conversation.exists(account_id=account.id, external_id=external_id)
    linked = await ConversationLink.exists(
        account_id=account.id, conversation_external_id=external_id
    )
    if stored or linked:
        return account, external_id
    return await owned_conversation(context, global_id)


async def link_target(context: Context, contact_id: str | None, company_id: str | None) -> Target:
    if (contact_id is None) == (company_id is None):
        raise BadUserInput("give exactly one of contactId and companyId", argument="contactId")
    workspace_id = context.viewer().workspace_id
    if contact_id is not None:
        return await actions.existing_target(
            workspace_id, CandidateKind.CONTACT, int_key(contact_id, "Contact")
        )
    assert company_id is not None
    return await actions.existing_target(
        workspace_id, CandidateKind.COMPANY, int_key(company_id, "Company")
    )


async def publish_change(context: Context, account: Account, external_id: str, change: str) -> None:
    publication = conversation_update(account, external_id, change)
    await context.services.pubsub.publish(publication.topic, publication.payload)


async def store(
    context: Context, account: Account, external_id: str, reason: StorageReason
) -> StoreResult:
    return await actions.store(context.services.unipile, account, external_id, reason)


async def link(
    context: Context, account: Account, external_id: str, target: Target
) -> ConversationLink:
    user_id = context.viewer().user_id
    created = await actions.link(context.services.unipile, user_id, account, external_id, target)
    await publish_change(context, account, external_id, "LINKED")
    return created


async def unlink(context: Context, account: Account, external_id: str, target: Target) -> None:
    await actions.unlink(context.viewer().user_id, account, external_id, target)
    await publish_change(context, account, external_id, "UNLINKED")


async def forget(context: Context, account: Account, external_id: str, also_unlink: bool) -> bool:
    forgotten = await actions.forget(context.viewer().user_id, account, external_id, also_unlink)
    await publish_change(context, account, external_id, "FORGOTTEN")
    return forgotten


async def mark_read(context: Context, account: Account, external_id: str, read: bool) -> None:
    await actions.mark_read(context.services.unipile, account, external_id, read)
    await context.services.live_cache.invalidate([account.unipile_id])
    await publish_change(context, account, external_id, "READ_STATE")


async def forget_identifier(context: Context, raw: str) -> int:
    scope = await context.scope()
    workspace_id = context.require_admin().workspace_id
    return await actions.forget_identifier(workspace_id, scope.region, raw)

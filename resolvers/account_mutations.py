"""Connecting, sharing, disconnecting and reconnecting accounts, for the viewer.

Owners and workspace admins manage an account; a colleague's account is FORBIDDEN to a member.
Another workspace's account, or a disconnected one, is NOT_FOUND like a missing one, so that ids
reveal nothing across workspaces.
"""

from __future__ import annotations

from collections.abc import Sequence

import accounts
from accounts import HostedAuth, HostedAuthProvider, IssuedLink
from core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    SwitchboardError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from core.ids import int_key
from core.vocabulary import AccountStatus
from db.models import Account
from inbox.facts import upstream_error
from resolvers.context import Context
from unipile import NotFoundError, RateLimitedError, UnipileError

# The states a fresh login can mend: renewed credentials, re-granted permissions, or an error
# UniPile clears on reconnecting. A STOPPED or DELETED account needs more than a login.
RECONNECTABLE = frozenset(
    {AccountStatus.CREDENTIALS, AccountStatus.PERMISSIONS, AccountStatus.ERROR}
)


def _hosted_auth(context: Context) -> HostedAuth:
    if context.services.hosted_auth is None:
        raise UpstreamUnavailable("hosted auth is not configured on this server")
    return context.services.hosted_auth


async def manageable_account(context: Context, account_id: str) -> Account:
    """The viewer's workspace's attached account `account_id`, which they own or administer."""
    identity = (await context.scope()).identity
    pk = int_key(account_id, "Account")
    account = await Account.get_or_none(id=pk, workspace_id=identity.workspace_id, detached_at=None)
    if account is None:
        raise NotFound(f"no account {account_id!r}", argument="accountId")
    if not accounts.may_manage(identity, account):
        raise Forbidden("only the account's owner or a workspace admin may do this")
    return account


async def connect_account(context: Context, providers: Sequence[HostedAuthProvider]) -> IssuedLink:
    identity = (await context.scope()).identity
    try:
        return await _hosted_auth(context).link(identity, providers)
    except UnipileError as error:
        if isinstance(error, RateLimitedError):
            raise UpstreamRateLimited(
                "UniPile is rate limiting", retryAfter=error.retry_after
            ) from None
        raise UpstreamUnavailable("UniPile did not give a hosted-auth link") from None


async def reconnect_account(context: Context, account_id: str) -> IssuedLink:
    account = await manageable_account(context, account_id)
    if account.status not in RECONNECTABLE:
        raise Conflict(
            f"the account is {account.status.value}: only an account in "
            f"{', '.join(sorted(RECONNECTABLE))} can be reconnected",
            argument="accountId",
        )
    try:
        return await _hosted_auth(context).link(context.viewer(), (), account)
    except UnipileError as error:
        raise upstream_error(account, error) from None


async def set_shared(context: Context, account_id: str, shared: bool) -> Account:
    return await accounts.set_shared(await manageable_account(context, account_id), shared)


async def disconnect_account(context: Context, account_id: str, delete_at_unipile: bool) -> Account:
    """Detach the account: no longer read live by anyone, its stored conversations kept. With
    `delete_at_unipile`, UniPile deletes it first; if UniPile fails, it stays attached."""
    account = await manageable_account(context, account_id)
    if delete_at_unipile:
        await _delete_at_unipile(context, account)
    return await accounts.detach(account)


async def _delete_at_unipile(context: Context, account: Account) -> None:
    try:
        await context.services.unipile.delete_account(account.unipile_id)
    except NotFoundError:
        return  # already gone at UniPile: what was asked for
    except UnipileError as error:
        failure: SwitchboardError = upstream_error(account, error)
        raise type(failure)(
            f"{failure}; the account stays connected", **_details(failure)
        ) from None


def _details(error: SwitchboardError) -> dict[str, object]:
    return {key: value for key, value in error.extensions.items() if key != "code"}

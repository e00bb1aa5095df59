"""Mutations on connected accounts: connect and reconnect through UniPile's hosted auth, share,
unshare and disconnect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry
from strawberry.types import Info

import accounts
from accounts import HostedAuthProvider, IssuedLink
from core.errors import SwitchboardError
from db.models import Account as AccountModel
from resolvers import account_mutations as actions
from resolvers.context import Context
from schema.inputs import check
from schema.mutation_errors import MutationError
from schema.viewer import Account

# Registered here, under the domain's name, since only these mutations expose it.
strawberry.enum(
    accounts.HostedAuthProvider,
    description="What UniPile's hosted-auth page offers: GOOGLE is Gmail, MICROSOFT Outlook, "
    "IMAP any other mailbox.",
)


@strawberry.input
class ConnectAccountInput:
    providers: list[HostedAuthProvider] | None = strawberry.field(
        default=None, description="What the page offers; empty or absent: every provider."
    )
    reconnect_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="Reconnect this account (one the viewer manages) instead."
    )


@strawberry.input
class AccountInput:
    account_id: strawberry.ID


@strawberry.input
class DisconnectAccountInput:
    account_id: strawberry.ID
    delete_at_unipile: bool = strawberry.field(
        default=False,
        description="Also delete it at UniPile; if UniPile fails, it stays connected.",
    )


@strawberry.type(description="A UniPile hosted-auth page to send the user to, or why not.")
class ConnectAccountPayload:
    url: str | None = None
    expires_at: datetime | None = None
    error: MutationError | None = None


@strawberry.type(description="The account after the mutation, or why nothing was done.")
class AccountPayload:
    account: Account | None = None
    error: MutationError | None = None


async def _link(given: object, issue: Callable[[], Awaitable[IssuedLink]]) -> ConnectAccountPayload:
    try:
        check(given, "")
        link = await issue()
    except SwitchboardError as error:
        return ConnectAccountPayload(error=MutationError.of(error))
    return ConnectAccountPayload(url=link.url, expires_at=link.expires_at)


async def _account(
    context: Context, given: object, act: Callable[[], Awaitable[AccountModel]]
) -> AccountPayload:
    try:
        check(given, "")
        account = await act()
    except SwitchboardError as error:
        return AccountPayload(error=MutationError.of(error))
    return AccountPayload(account=Account.from_model(account, context.viewer().user_id))


async def _set_shared(context: Context, input: AccountInput, *, shared: bool) -> AccountPayload:
    context.viewer()
    return await _account(
        context, input, lambda: actions.set_shared(context, input.account_id, shared)
    )


@strawberry.type
class AccountMutation:
    @strawberry.mutation(
        description="A UniPile hosted-auth link where the viewer connects an account (or "
        "reconnects one); once done there, the account appears in `accounts`."
    )
    async def connect_account(
        self, info: Info[Context, None], input: ConnectAccountInput
    ) -> ConnectAccountPayload:
        context = info.context
        context.viewer()
        reconnecting = input.reconnect_account_id
        if reconnecting is not None:
            return await _link(input, lambda: actions.reconnect_account(context, reconnecting))
        return await _link(input, lambda: actions.connect_account(context, input.providers or []))

    @strawberry.mutation(
        description="A hosted-auth link to reconnect an account whose status is CREDENTIALS, "
        "PERMISSIONS or ERROR (otherwise CONFLICT)."
    )
    async def reconnect_account(
        self, info: Info[Context, None], input: AccountInput
    ) -> ConnectAccountPayload:
        context = info.context
        context.viewer()
        return await _link(input, lambda: actions.reconnect_account(context, input.account_id))

    @strawberry.mutation(description="Let the whole workspace use the account (owner or admin).")
    async def share_account(self, info: Info[Context, None], input: AccountInput) -> AccountPayload:
        return await _set_shared(info.context, input, shared=True)

    @strawberry.mutation(description="Keep the account to its owner again (owner or admin).")
    async def unshare_account(
        self, info: Info[Context, None], input: AccountInput
    ) -> AccountPayload:
        return await _set_shared(info.context, input, shared=False)

    @strawberry.mutation(
        description="Disconnect the account (owner or admin): it leaves `accounts` and the live "
        "inbox for everyone; its stored conversations stay."
    )
    async def disconnect_account(
        self, info: Info[Context, None], input: DisconnectAccountInput
    ) -> AccountPayload:
        context = info.context
        context.viewer()
        return await _account(
            context,
            input,
            lambda: actions.disconnect_account(context, input.account_id, input.delete_at_unipile),
        )

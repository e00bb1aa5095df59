"""Attaching accounts that already exist at UniPile to a user: for a CRM that connected them
through its own integration before it used Switchboard.

Each of UniPile's accounts (or of those asked for) is attached to the user unless another
workspace has it; the report says what became of each, so running it again is safe and tells
what is already done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from accounts.lifecycle import (
    AccountTaken,
    Attachment,
    UnsupportedAccount,
    attach,
    upstream_status,
)
from core.errors import BadUserInput
from db.models import User
from unipile import Account as UnipileAccount
from unipile import UnipileClient, is_valid_id

MAX_REQUESTED = 1000
"""Most `--account` ids one run takes."""


class ImportResult(StrEnum):
    IMPORTED = "IMPORTED"
    REATTACHED = "REATTACHED"
    """It was detached in the user's workspace and is attached again, to the user."""
    ALREADY_ATTACHED = "ALREADY_ATTACHED"
    OTHER_WORKSPACE = "OTHER_WORKSPACE"
    UNSUPPORTED = "UNSUPPORTED"
    """A type without a channel (a calendar, a mobile device)."""
    NOT_AT_UNIPILE = "NOT_AT_UNIPILE"
    """Asked for by id, but UniPile has no such account."""


_RESULT_OF_ATTACHMENT = {
    Attachment.ATTACHED: ImportResult.IMPORTED,
    Attachment.REATTACHED: ImportResult.REATTACHED,
    Attachment.ALREADY_ATTACHED: ImportResult.ALREADY_ATTACHED,
}


@dataclass(frozen=True, slots=True)
class ImportedAccount:
    unipile_id: str
    result: ImportResult
    type: str | None = None
    name: str | None = None
    owner_email: str | None = None
    """Who owns it here, when it is attached to the user's workspace."""


async def import_accounts(
    client: UnipileClient, owner: User, requested: Sequence[str] = ()
) -> list[ImportedAccount]:
    """Attach UniPile's accounts (only `requested` ones, when given) to `owner`, in UniPile's
    order, then the requested ids UniPile does not have. Raises the client's `UnipileError` when
    UniPile cannot list its accounts; nothing is attached then."""
    wanted = _checked_ids(requested)
    upstream = await _all_accounts(client)
    chosen = [account for account in upstream if not wanted or account.id in wanted]
    results = [await _import_one(account, owner) for account in chosen]
    found = {account.id for account in chosen}
    results.extend(
        ImportedAccount(unipile_id, ImportResult.NOT_AT_UNIPILE)
        for unipile_id in wanted
        if unipile_id not in found
    )
    return results


def _checked_ids(requested: Sequence[str]) -> dict[str, None]:
    if len(requested) > MAX_REQUESTED:
        raise BadUserInput(f"at most {MAX_REQUESTED} accounts at once", argument="account")
    for unipile_id in requested:
        if not is_valid_id(unipile_id):
            raise BadUserInput(
                f"{unipile_id[:80]!r} is not a UniPile account id", argument="account"
            )
    return dict.fromkeys(requested)


async def _all_accounts(client: UnipileClient) -> list[UnipileAccount]:
    accounts: list[UnipileAccount] = []
    cursor: str | None = None
    while True:
        page = await client.list_accounts(cursor=cursor)
        accounts.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return accounts


async def _import_one(upstream: UnipileAccount, owner: User) -> ImportedAccount:
    described = {"type": str(upstream.type), "name": upstream.name}
    try:
        attached = await attach(upstream, owner, upstream_status(upstream))
    except AccountTaken:
        return ImportedAccount(upstream.id, ImportResult.OTHER_WORKSPACE, **described)
    except UnsupportedAccount:
        return ImportedAccount(upstream.id, ImportResult.UNSUPPORTED, **described)
    account = attached.account
    account_owner = await User.get(id=account.owner_id)
    return ImportedAccount(
        upstream.id,
        _RESULT_OF_ATTACHMENT[attached.attachment],
        type=account.provider,
        name=account.name,
        owner_email=account_owner.email,
    )

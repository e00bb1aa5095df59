"""A connected account's row through its life: attached from what UniPile reports of it, shared,
detached by a user, and attached again.

An account belongs to the workspace that first attached it: one UniPile organisation may serve
several workspaces, and an account attached to one is refused to every other. Detaching keeps the
row (and what was stored of its conversations); attaching it again in the same workspace revives
that row rather than making a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError

from core.errors import Conflict
from core.identity import Identity
from core.vocabulary import AccountStatus, channel_for_provider
from crm import Rejected, classify_participant
from db.models import Account, User
from db.text import storable_text
from unipile import Account as UnipileAccount

NAME_LENGTH = 320  # Account.name


class AccountTaken(Conflict):
    """The UniPile account is attached to another workspace."""


class UnsupportedAccount(Conflict):
    """UniPile's account is of a type no channel stands for (a calendar, a mobile device)."""


class Attachment(StrEnum):
    """What attaching did."""

    ATTACHED = "ATTACHED"
    """A new row."""
    REATTACHED = "REATTACHED"
    """A detached row of the same workspace, attached again."""
    ALREADY_ATTACHED = "ALREADY_ATTACHED"
    """The workspace already had it attached: nothing changed."""


@dataclass(frozen=True, slots=True)
class Attached:
    account: Account
    attachment: Attachment


def own_identifiers(account: UnipileAccount, region: str) -> list[dict[str, str]]:
    """The account's own address or number, normalised as participants are."""
    if account.own_identifier is None:
        return []
    identifier = classify_participant(account.own_identifier, region=region)
    if isinstance(identifier, Rejected):
        return []
    return [{"kind": identifier.kind.value, "value": identifier.value}]


def may_manage(identity: Identity, account: Account) -> bool:
    """Whether the viewer may share, disconnect or reconnect the account: its owner or an admin
    of its workspace."""
    return account.workspace_id == identity.workspace_id and (
        identity.is_admin or account.owner_id == identity.user_id
    )


def upstream_status(upstream: UnipileAccount) -> AccountStatus:
    """The account's status as its sources report it: the first one that is not OK, else OK."""
    for source in upstream.sources:
        status = str(source.status)
        if status != AccountStatus.OK and status in AccountStatus.__members__:
            return AccountStatus(status)
    return AccountStatus.OK


def _described(upstream: UnipileAccount, region: str) -> dict[str, Any]:
    """The columns UniPile's description of the account gives."""
    provider = str(upstream.type)
    try:
        channel = channel_for_provider(provider)
    except ValueError:
        raise UnsupportedAccount(
            f"UniPile account {upstream.id} is of type {provider[:40]!r}, which has no channel"
        ) from None
    return {
        "channel": channel,
        "provider": provider,
        "name": storable_text(upstream.name or upstream.id)[:NAME_LENGTH],
        "own_identifiers": own_identifiers(upstream, region),
    }


async def attach(upstream: UnipileAccount, owner: User, status: AccountStatus) -> Attached:
    """Attach UniPile's account to `owner`'s workspace, owned by them, in `status`.

    Idempotent: an account the workspace already has attached is left as it is. A detached one is
    attached again, owned by `owner` (unshared when that is someone else) and refreshed from
    UniPile. Raises `AccountTaken` for another workspace's account, `UnsupportedAccount` for a
    type without a channel."""
    region = (await owner.workspace).default_region
    described = _described(upstream, region)
    existing = await Account.get_or_none(unipile_id=upstream.id)
    if existing is None:
        try:
            created = await Account.create(
                workspace_id=owner.workspace_id,
                owner_id=owner.id,
                unipile_id=upstream.id,
                status=status,
                status_changed_at=datetime.now(UTC),
                **described,
            )
        except IntegrityError:
            # Attached by a concurrent call since the lookup: judge that row instead.
            return await attach(upstream, owner, status)
        return Attached(created, Attachment.ATTACHED)
    if existing.workspace_id != owner.workspace_id:
        raise AccountTaken(f"UniPile account {upstream.id} is attached to another workspace")
    if existing.detached_at is None:
        return Attached(existing, Attachment.ALREADY_ATTACHED)
    changes = {
        **described,
        "owner_id": owner.id,
        "shared": existing.shared and existing.owner_id == owner.id,
        **_revived(status),
    }
    return Attached(await _changed(existing, changes), Attachment.REATTACHED)


async def reconnected(account: Account) -> Account | None:
    """The account after UniPile reconnected it: attached and OK; None when it already was."""
    if account.detached_at is None and account.status is AccountStatus.OK:
        return None
    return await _changed(account, _revived(AccountStatus.OK))


async def set_shared(account: Account, shared: bool) -> Account:
    if account.shared == shared:
        return account
    return await _changed(account, {"shared": shared})


async def detach(account: Account) -> Account:
    """Detached from now on: no longer read live or shown, while its stored conversations stay."""
    return await _changed(account, {"detached_at": datetime.now(UTC)})


def _revived(status: AccountStatus) -> dict[str, Any]:
    return {
        "detached_at": None,
        "status": status,
        "last_error": None,
        "status_changed_at": datetime.now(UTC),
    }


async def _changed(account: Account, changes: dict[str, Any]) -> Account:
    await Account.filter(id=account.id).update(**changes)
    for name, value in changes.items():
        setattr(account, name, value)
    return account

"""Applying UniPile's account-status events to `Account` rows, and announcing the changes."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.vocabulary import AccountStatus
from db.models import Account, WebhookReceipt
from inbox.live_cache import LiveCache
from realtime.live_lists import live_lists_changed
from realtime.receipts import Publication
from realtime.topics import account_topic, workspace_accounts_topic

log = logging.getLogger(__name__)

# UniPile's status messages: what the account's status becomes, and the error to show, if any.
STATUS_OF_MESSAGE: Mapping[str, tuple[AccountStatus, str | None]] = {
    "OK": (AccountStatus.OK, None),
    "RECONNECTED": (AccountStatus.OK, None),
    "SYNC_SUCCESS": (AccountStatus.OK, None),
    "CREATION_SUCCESS": (AccountStatus.OK, None),
    "CONNECTING": (AccountStatus.CONNECTING, None),
    "CREDENTIALS": (AccountStatus.CREDENTIALS, "The account's credentials must be renewed."),
    "PERMISSIONS": (AccountStatus.PERMISSIONS, "The account lacks a permission UniPile needs."),
    "ERROR": (AccountStatus.ERROR, "UniPile reports an error on this account."),
    "CREATION_FAIL": (AccountStatus.ERROR, "UniPile could not connect the account."),
    "STOPPED": (AccountStatus.STOPPED, "The account's synchronisation is stopped."),
    "DELETED": (AccountStatus.DELETED, "The account was deleted from UniPile."),
}


class AccountStatusEvents:
    """The handler of `account_status` receipts, for `ReceiptProcessor.on`."""

    def __init__(self, live_cache: LiveCache) -> None:
        self.live_cache = live_cache

    async def apply(self, receipt: WebhookReceipt) -> Sequence[Publication]:
        """`{"AccountStatus": {"account_id", "message"}}`: the account's row takes the status, and
        its cached lists are read again (a reconnected account lists again, a failing one fails)."""
        event: Mapping[str, Any] = receipt.payload["AccountStatus"]
        unipile_id, message = str(event["account_id"]), str(event["message"])
        if message not in STATUS_OF_MESSAGE:
            log.warning("ignored unknown account status %r for %s", message, unipile_id)
            return []
        account = await Account.get_or_none(unipile_id=unipile_id, detached_at=None)
        if account is None:
            # UniPile reports every account of the API key, including some this CRM never connected
            # or a user disconnected.
            return []
        status, error = STATUS_OF_MESSAGE[message]
        if (account.status, account.last_error) == (status, error):
            return []
        changed_at = datetime.now(UTC)
        await Account.filter(id=account.id).update(
            status=status, last_error=error, status_changed_at=changed_at
        )
        changed = await live_lists_changed(self.live_cache, account)
        return [changed, *status_publications(account, status, error, changed_at)]


def status_publications(
    account: Account, status: AccountStatus, error: str | None, changed_at: datetime | None
) -> list[Publication]:
    """What announces an account's new status to its subscribers (`accountStatusChanged`)."""
    change = {
        "type": "account_status",
        "account_id": account.id,
        "unipile_id": account.unipile_id,
        "workspace_id": account.workspace_id,
        "status": status.value,
        "last_error": error,
        "status_changed_at": changed_at,
    }
    return [
        Publication(account_topic(account.unipile_id), change),
        Publication(workspace_accounts_topic(account.workspace_id), change),
    ]

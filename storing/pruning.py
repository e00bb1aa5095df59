"""Deleting stored copies the storage rules no longer keep, never silently.

Two kinds: `UNMATCHED`, the copies no rule keeps any more (an admin's explicit purge), and
`EXPIRED`, the copies a rule's `retention_days` has run out for (past their last activity; the
job queue applies it, `RetentionRunner`). Both start with a dry run, `prunable`, which lists what
would go; a prune deletes only what its dry run listed and still qualifies when it runs, in one
transaction with an audit entry naming every conversation deleted. A copy a user stored or linked
is never pruned: the decision says MANUAL_STORE or MANUAL_LINK for it, which always keeps it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import groupby

from tortoise.transactions import in_transaction

from access.scope import load_viewer_scope
from core.identity import Identity
from core.vocabulary import StorageAuditAction, StorageReason
from crm.caching import Kept, bumped_after
from db.models import Account, Conversation, StorageAuditEntry, StorageRuleRow
from inbox.conversations import stored_records
from inbox.facts import ConversationFacts, load_facts
from inbox.loaders import AttendeeCache
from inbox.reading import Reading
from unipile import UnipileClient

__all__ = [
    "MAX_PRUNABLE",
    "Prunable",
    "PruneKind",
    "RetentionRunner",
    "prunable",
    "prune",
]

log = logging.getLogger(__name__)

MAX_PRUNABLE = 500
"""Stored conversations one dry run or prune looks at, oldest activity first: a workspace with
more prunes them over several runs."""
RETENTION_INTERVAL = 3600.0
_KEPT_BY_USERS = frozenset({StorageReason.MANUAL_STORE, StorageReason.MANUAL_LINK})


class PruneKind(StrEnum):
    UNMATCHED = "UNMATCHED"
    """No rule keeps it: the rules in force would neither store nor suggest it."""
    EXPIRED = "EXPIRED"
    """The rule that keeps it says to delete it this many days after its last activity."""

    @property
    def audited_as(self) -> StorageAuditAction:
        if self is PruneKind.UNMATCHED:
            return StorageAuditAction.PURGED
        return StorageAuditAction.EXPIRED


@dataclass(frozen=True, slots=True)
class Prunable:
    facts: ConversationFacts
    last_activity: datetime

    @property
    def key(self) -> tuple[int, str]:
        return self.facts.record.key


def qualifies(facts: ConversationFacts, kind: PruneKind, last_activity: datetime) -> bool:
    decision = facts.decision
    if decision.reason in _KEPT_BY_USERS:
        return False
    if kind is PruneKind.UNMATCHED:
        return not decision.should_store
    days = None if decision.rule is None else decision.rule.limits.retention_days
    return (
        decision.should_store
        and days is not None
        and last_activity < datetime.now(UTC) - timedelta(days=days)
    )


async def prunable(
    workspace_id: int, kind: PruneKind, unipile: UnipileClient, attendee_cache: AttendeeCache
) -> list[Prunable]:
    """The dry run: the stored conversations a prune of `kind` would delete now."""
    stored = (
        await Conversation.filter(workspace_id=workspace_id)
        .order_by("last_message_at", "id")
        .limit(MAX_PRUNABLE)
    )
    found = []
    for facts, row in await _stored_facts(workspace_id, stored, unipile, attendee_cache):
        last_activity = row.last_message_at or row.stored_at
        if qualifies(facts, kind, last_activity):
            found.append(Prunable(facts, last_activity))
    return found


async def _stored_facts(
    workspace_id: int,
    stored: Sequence[Conversation],
    unipile: UnipileClient,
    attendee_cache: AttendeeCache,
) -> list[tuple[ConversationFacts, Conversation]]:
    """Each stored conversation's facts, decided as its account's owner would see them
    (matching and rules are the workspace's, the same for every viewer)."""
    accounts = {a.id: a for a in await Account.filter(workspace_id=workspace_id)}
    facts: list[tuple[ConversationFacts, Conversation]] = []
    ordered = sorted(stored, key=lambda row: accounts[row.account_id].owner_id)
    for owner_id, rows in groupby(ordered, key=lambda row: accounts[row.account_id].owner_id):
        owned = list(rows)
        scope = await load_viewer_scope(Identity(owner_id, workspace_id))
        if scope is None:
            continue
        reading = Reading.for_viewer(scope, unipile, attendee_cache)
        records = await stored_records(accounts, owned)
        facts.extend(zip(await load_facts(reading, records), owned, strict=True))
    return facts


async def prune(
    workspace_id: int,
    user_id: int | None,
    kind: PruneKind,
    listed: Collection[tuple[int, str]],
    unipile: UnipileClient,
    attendee_cache: AttendeeCache,
) -> list[Prunable]:
    """Delete the stored conversations of `listed` (a dry run's keys) that still qualify, with
    an audit entry by `user_id` (None: the job queue's retention); what was deleted."""
    wanted = set(listed)
    chosen = [
        item
        for item in await prunable(workspace_id, kind, unipile, attendee_cache)
        if item.key in wanted
    ]
    if not chosen:
        return []
    async with in_transaction(), bumped_after(workspace_id, Kept.STORED_CONVERSATIONS):
        for account_id, external_id in (item.key for item in chosen):
            await Conversation.filter(account_id=account_id, external_id=external_id).delete()
        await StorageAuditEntry.create(
            workspace_id=workspace_id,
            user_id=user_id,
            action=kind.audited_as,
            at=datetime.now(UTC),
            before=json.dumps([_audited(item) for item in chosen], sort_keys=True),
            after="[]",
        )
    return chosen


def _audited(item: Prunable) -> dict[str, object]:
    """What the audit keeps of a deleted copy: its key and why, never its content."""
    rule = item.facts.decision.rule
    return {
        "accountId": item.key[0],
        "externalId": item.key[1],
        "lastActivity": item.last_activity.isoformat(),
        "rule": None if rule is None else rule.id,
    }


class RetentionRunner:
    """The job queue's retention: every `interval` seconds, each workspace with a rule that
    has a retention prunes what its dry run lists then."""

    def __init__(
        self,
        unipile: UnipileClient,
        attendee_cache: AttendeeCache,
        interval: float = RETENTION_INTERVAL,
    ) -> None:
        self._unipile = unipile
        self._attendee_cache = attendee_cache
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        """One pass over the workspaces; how many stored copies expired."""
        expired = 0
        for workspace_id in await _workspaces_with_retention():
            listed = await prunable(
                workspace_id, PruneKind.EXPIRED, self._unipile, self._attendee_cache
            )
            deleted = await prune(
                workspace_id,
                None,
                PruneKind.EXPIRED,
                [item.key for item in listed],
                self._unipile,
                self._attendee_cache,
            )
            expired += len(deleted)
            if deleted:
                log.info("workspace %s: %d stored copies expired", workspace_id, len(deleted))
        return expired

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="switchboard-retention")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # one failed pass must not end retention; the next one retries
                log.exception("retention pass failed")
            await asyncio.sleep(self._interval)


async def _workspaces_with_retention() -> list[int]:
    """Workspaces with a rule of their own that sets a retention (channel policies set none)."""
    rows = await StorageRuleRow.filter(definition__contains='"retention_days"').only("workspace_id")
    return sorted({row.workspace_id for row in rows})

"""Changing a workspace's storage rules: its own rules and domains, its policy per channel and its
never-store list.

Each change returns the rules as they are after it (`crm.storage.load_storage_rules`), is audited
(`storage_audit`: who, when, everything the workspace set of its rules before and after), and
bumps their version (`crm.caching.Kept.STORAGE_RULES`) so that no process serves the rules it
kept.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from core.errors import BadUserInput
from core.vocabulary import Channel, NeverStoreKind, StorageAuditAction, StoragePolicy
from crm.caching import Kept, bumped_after
from crm.normalize import Rejected, normalize_never_store_value
from crm.rules import StorageRule, rule_to_json
from crm.storage import StorageRules, load_storage_rules
from crm.writing import default_region
from db.models import (
    NeverStoreEntry,
    OwnDomain,
    StorageAuditEntry,
    StoragePolicySetting,
    StorageRuleRow,
    Workspace,
)

__all__ = [
    "add_never_store",
    "remove_never_store",
    "replace_storage_rules",
    "rules_json",
    "set_storage_policy",
]


def rules_json(rules: StorageRules) -> str:
    """Everything a workspace set of its rules, as an audit entry keeps it."""
    never_store = rules.never_store
    return json.dumps(
        {
            "rules": [{"id": rule.id, **rule_to_json(rule)} for rule in rules.rules],
            "ownDomains": sorted(rules.own_domains),
            "policies": {channel.value: policy.value for channel, policy in rules.policies.items()},
            "neverStore": {
                "EMAIL": sorted(never_store.emails),
                "PHONE": sorted(never_store.phones),
                "DOMAIN": sorted(never_store.domains),
            },
        },
        sort_keys=True,
    )


async def _audited(
    workspace_id: int, user_id: int | None, change: Callable[[], Awaitable[object]]
) -> StorageRules:
    """The rules after `change`, made in one transaction with an audit entry of who, when,
    before and after, and the rules' version bumped as its last statement: no reader sees half a
    change, and no change goes unaudited."""
    async with in_transaction():
        # Changes of one workspace's rules wait for each other, so that each reads the rules the
        # one before left, and two replacements never interleave their rows.
        await Workspace.select_for_update().get(id=workspace_id)
        before = await load_storage_rules(workspace_id)
        await change()
        after = await load_storage_rules(workspace_id)
        async with bumped_after(workspace_id, Kept.STORAGE_RULES):
            await StorageAuditEntry.create(
                workspace_id=workspace_id,
                user_id=user_id,
                action=StorageAuditAction.RULES_CHANGED,
                at=datetime.now(UTC),
                before=rules_json(before),
                after=rules_json(after),
            )
    return after


async def replace_storage_rules(
    workspace_id: int,
    user_id: int | None,
    rules: Sequence[StorageRule],
    own_domains: frozenset[str] | None,
) -> StorageRules:
    """The workspace's own rules become `rules`, in their order (and its own domains
    `own_domains`, unless None)."""

    async def replace() -> None:
        await StorageRuleRow.filter(workspace_id=workspace_id).delete()
        await StorageRuleRow.bulk_create(
            [
                StorageRuleRow(
                    workspace_id=workspace_id,
                    definition=json.dumps({"position": position, **rule_to_json(rule)}),
                )
                for position, rule in enumerate(rules)
            ]
        )
        if own_domains is not None:
            await OwnDomain.filter(workspace_id=workspace_id).delete()
            await OwnDomain.bulk_create(
                [OwnDomain(workspace_id=workspace_id, domain=d) for d in sorted(own_domains)]
            )

    return await _audited(workspace_id, user_id, replace)


async def set_storage_policy(
    workspace_id: int, channel: Channel, policy: StoragePolicy, user_id: int | None = None
) -> StorageRules:
    # An upsert, so that two concurrent calls cannot both insert.
    return await _audited(
        workspace_id,
        user_id,
        lambda: StoragePolicySetting.bulk_create(
            [StoragePolicySetting(workspace_id=workspace_id, channel=channel, policy=policy)],
            on_conflict=["workspace_id", "channel"],
            update_fields=["policy"],
        ),
    )


async def add_never_store(
    workspace_id: int, kind: NeverStoreKind, raw: str, user_id: int | None = None
) -> StorageRules:
    """Idempotent: an entry already on the list stays as it is."""
    value = await _never_store_value(workspace_id, kind, raw)
    return await _audited(
        workspace_id,
        user_id,
        lambda: NeverStoreEntry.bulk_create(
            [NeverStoreEntry(workspace_id=workspace_id, kind=kind, value=value)],
            ignore_conflicts=True,
        ),
    )


async def remove_never_store(
    workspace_id: int, kind: NeverStoreKind, raw: str, user_id: int | None = None
) -> StorageRules:
    """Idempotent: removing an entry that is not on the list changes nothing."""
    value = await _never_store_value(workspace_id, kind, raw)
    return await _audited(
        workspace_id,
        user_id,
        lambda: NeverStoreEntry.filter(workspace_id=workspace_id, kind=kind, value=value).delete(),
    )


async def _never_store_value(workspace_id: int, kind: NeverStoreKind, raw: str) -> str:
    value = normalize_never_store_value(kind, raw, region=await default_region(workspace_id))
    if isinstance(value, Rejected):
        raise BadUserInput(f"{raw!r} is not a valid {kind.value.lower()}", argument="value")
    return value

"""Changing a workspace's storage rules: its policy per channel and its never-store list.

Each change returns the rules as they are after it (`crm.storage.load_storage_rules`), and bumps
their version (`crm.caching.Kept.STORAGE_RULES`) so that no process serves the rules it kept.
"""

from __future__ import annotations

from core.errors import BadUserInput
from core.vocabulary import Channel, NeverStoreKind, StoragePolicy
from crm.caching import Kept, bumped_after
from crm.normalize import Rejected, normalize_never_store_value
from crm.storage import StorageRules, load_storage_rules
from crm.writing import default_region
from db.models import NeverStoreEntry, StoragePolicySetting

__all__ = ["add_never_store", "remove_never_store", "set_storage_policy"]


async def set_storage_policy(
    workspace_id: int, channel: Channel, policy: StoragePolicy
) -> StorageRules:
    # An upsert, so that two concurrent calls cannot both insert.
    async with bumped_after(workspace_id, Kept.STORAGE_RULES):
        await StoragePolicySetting.bulk_create(
            [StoragePolicySetting(workspace_id=workspace_id, channel=channel, policy=policy)],
            on_conflict=["workspace_id", "channel"],
            update_fields=["policy"],
        )
    return await load_storage_rules(workspace_id)


async def add_never_store(workspace_id: int, kind: NeverStoreKind, raw: str) -> StorageRules:
    """Idempotent: an entry already on the list stays as it is."""
    value = await _never_store_value(workspace_id, kind, raw)
    async with bumped_after(workspace_id, Kept.STORAGE_RULES):
        await NeverStoreEntry.bulk_create(
            [NeverStoreEntry(workspace_id=workspace_id, kind=kind, value=value)],
            ignore_conflicts=True,
        )
    return await load_storage_rules(workspace_id)


async def remove_never_store(workspace_id: int, kind: NeverStoreKind, raw: str) -> StorageRules:
    """Idempotent: removing an entry that is not on the list changes nothing."""
    value = await _never_store_value(workspace_id, kind, raw)
    async with bumped_after(workspace_id, Kept.STORAGE_RULES):
        await NeverStoreEntry.filter(workspace_id=workspace_id, kind=kind, value=value).delete()
    return await load_storage_rules(workspace_id)


async def _never_store_value(workspace_id: int, kind: NeverStoreKind, raw: str) -> str:
    value = normalize_never_store_value(kind, raw, region=await default_region(workspace_id))
    if isinstance(value, Rejected):
        raise BadUserInput(f"{raw!r} is not a valid {kind.value.lower()}", argument="value")
    return value

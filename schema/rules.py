"""A storage rule as the schema shows it: the workspace's own rules and its channel policies."""

from __future__ import annotations

import strawberry

from core.ids import to_global_id
from crm import StorageRule as Rule
from schema.enums import Channel, RuleMatch, StorageAction

__all__ = ["StorageRule", "StorageRuleConditions", "rule_id"]


def rule_id(rule: Rule) -> str:
    return to_global_id("StorageRule", rule.id)


def _sorted(values: frozenset[str] | None) -> list[str] | None:
    return None if values is None else sorted(values)


@strawberry.type(description="What a rule holds for: every condition set; null: any.")
class StorageRuleConditions:
    channels: list[Channel] | None
    account_ids: list[strawberry.ID] | None = strawberry.field(
        description="The global ids of the accounts it holds for."
    )
    match: RuleMatch | None
    min_confidence: float | None = strawberry.field(
        description="With a match: the matched record's confidence, 0 to 1, at least this."
    )
    domains_in: list[str] | None = strawberry.field(
        description="Some participant's email domain is one of these, or under one."
    )
    domains_not_in: list[str] | None = strawberry.field(
        description="No participant's email domain is one of these, nor under one."
    )
    internal_only: bool | None = strawberry.field(
        description="true: everyone else is on the workspace's own domains; false: someone is not."
    )
    group: bool | None = strawberry.field(description="A group chat, or not.")
    folders: list[str] | None = strawberry.field(
        description="An email thread with an email in one of these folders (UniPile's names)."
    )
    min_participants: int | None = strawberry.field(
        description="At least this many others take part."
    )
    max_participants: int | None = strawberry.field(
        description="At most this many others take part."
    )


@strawberry.type(
    description="A storage rule. The workspace's own rules come first, in order, then one per "
    "channel for its policy; the first whose conditions all hold decides."
)
class StorageRule:
    id: strawberry.ID
    name: str
    action: StorageAction
    conditions: StorageRuleConditions
    days_back: int | None = strawberry.field(
        description="How many days of messages storing keeps; null: the channel's default."
    )
    messages_per_conversation: int | None = strawberry.field(
        description="How many messages of a conversation storing keeps; null: the default."
    )
    retention_days: int | None = strawberry.field(
        description="Stored copies it stored are deleted this many days after their last "
        "activity; null: kept."
    )
    is_channel_policy: bool = strawberry.field(
        description="One of the channel policies (`setStoragePolicy` changes it)."
    )

    @classmethod
    def from_rule(cls, rule: Rule) -> StorageRule:
        conditions = rule.conditions
        accounts = conditions.account_ids
        return cls(
            id=strawberry.ID(rule_id(rule)),
            name=rule.name,
            action=rule.action,
            conditions=StorageRuleConditions(
                channels=None if conditions.channels is None else sorted(conditions.channels),
                account_ids=None
                if accounts is None
                else [strawberry.ID(to_global_id("Account", pk)) for pk in sorted(accounts)],
                match=conditions.match,
                min_confidence=conditions.min_confidence,
                domains_in=_sorted(conditions.domains_in),
                domains_not_in=_sorted(conditions.domains_not_in),
                internal_only=conditions.internal_only,
                group=conditions.group,
                folders=_sorted(conditions.folders),
                min_participants=conditions.min_participants,
                max_participants=conditions.max_participants,
            ),
            days_back=rule.limits.days_back,
            messages_per_conversation=rule.limits.messages_per_conversation,
            retention_days=rule.limits.retention_days,
            is_channel_policy=rule.is_policy,
        )

"""Storage rules in the schema: reading them, previewing a draft, replacing them (admins)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry.types import Info

from core.errors import BadUserInput, SwitchboardError, Unauthenticated
from core.ids import int_key, key_of
from core.vocabulary import Channel as ChannelKind
from crm import StorageRule as Rule
from crm import StorageRules as Rules
from crm import normalize_host
from crm.normalize import Rejected
from crm.rules import RuleConditions, RuleLimits
from inbox.conversations import conversation_key
from resolvers import storage_rules as resolvers
from resolvers.context import Context
from schema.crm_mutations import StorageRules, StorageRulesPayload
from schema.enums import Channel, RuleMatch, StorageAction, StorageReason
from schema.inbox import Conversation, conversation_id
from schema.inputs import ID_LENGTH, NAME_LENGTH, URL_LENGTH, bounds, check
from schema.mutation_errors import MutationError
from schema.rules import StorageRule
from schema.viewer import Account
from storing.pruning import MAX_PRUNABLE, Prunable, PruneKind

__all__ = ["StorageRulesMutation", "StorageRulesQuery"]

MAX_RULES = 50
MAX_CONDITION_VALUES = 100
MAX_DAYS = 36_500
MAX_MESSAGES = 10_000


@strawberry.input(description="A storage rule; a condition left null holds for any conversation.")
class StorageRuleInput:
    name: str = strawberry.field(metadata=bounds(NAME_LENGTH))
    action: StorageAction
    channels: list[Channel] | None = strawberry.field(
        default=None, metadata=bounds(max_items=len(ChannelKind))
    )
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, metadata=bounds(ID_LENGTH, max_items=MAX_CONDITION_VALUES)
    )
    match: RuleMatch | None = None
    min_confidence: float | None = strawberry.field(
        default=None, description="0 to 1; needs `match` CONTACT, COMPANY or EITHER."
    )
    domains_in: list[str] | None = strawberry.field(
        default=None, metadata=bounds(URL_LENGTH, max_items=MAX_CONDITION_VALUES)
    )
    domains_not_in: list[str] | None = strawberry.field(
        default=None, metadata=bounds(URL_LENGTH, max_items=MAX_CONDITION_VALUES)
    )
    internal_only: bool | None = None
    group: bool | None = None
    folders: list[str] | None = strawberry.field(
        default=None, metadata=bounds(NAME_LENGTH, max_items=MAX_CONDITION_VALUES)
    )
    min_participants: int | None = None
    max_participants: int | None = None
    days_back: int | None = strawberry.field(default=None, description=f"1 to {MAX_DAYS}.")
    messages_per_conversation: int | None = strawberry.field(
        default=None, description=f"1 to {MAX_MESSAGES}."
    )
    retention_days: int | None = strawberry.field(default=None, description=f"1 to {MAX_DAYS}.")


@strawberry.input(description="The workspace's own storage rules, in order, and its domains.")
class StorageRulesInput:
    rules: list[StorageRuleInput] = strawberry.field(
        description=f"At most {MAX_RULES}; the channel policies follow them.",
        metadata=bounds(max_items=MAX_RULES),
    )
    own_domains: list[str] | None = strawberry.field(
        default=None,
        description="The workspace's own domains (`internalOnly`); null: left as they are.",
        metadata=bounds(URL_LENGTH, max_items=MAX_CONDITION_VALUES),
    )


def _refuse(field: str, problem: str) -> BadUserInput:
    return BadUserInput(f"{field} {problem}", argument=field)


def _domains(values: list[str] | None, field: str) -> frozenset[str] | None:
    if values is None:
        return None
    hosts = set()
    for index, value in enumerate(values):
        host = normalize_host(value)
        if isinstance(host, Rejected):
            raise _refuse(f"{field}[{index}]", f"is not a domain: {value[:80]!r}")
        hosts.add(host)
    return frozenset(hosts)


def _count(value: int | None, field: str, least: int, most: int) -> int | None:
    if value is not None and not least <= value <= most:
        raise _refuse(field, f"must be from {least} to {most}")
    return value


def _given(values: Sequence[object] | None, field: str) -> None:
    if values is not None and not values:
        raise _refuse(field, "must name something, or be null to hold for any")


def _conditions(given: StorageRuleInput, field: str) -> RuleConditions:
    for name, values in (
        ("channels", given.channels),
        ("accountIds", given.account_ids),
        ("domainsIn", given.domains_in),
        ("domainsNotIn", given.domains_not_in),
        ("folders", given.folders),
    ):
        _given(values, f"{field}.{name}")
    confidence = given.min_confidence
    if confidence is not None:
        if not math.isfinite(confidence) or not 0 <= confidence <= 1:
            raise _refuse(f"{field}.minConfidence", "must be from 0 to 1")
        if given.match in (None, RuleMatch.NONE):
            raise _refuse(f"{field}.minConfidence", "needs match CONTACT, COMPANY or EITHER")
    least = _count(given.min_participants, f"{field}.minParticipants", 0, MAX_MESSAGES)
    most = _count(given.max_participants, f"{field}.maxParticipants", 0, MAX_MESSAGES)
    if least is not None and most is not None and least > most:
        raise _refuse(f"{field}.maxParticipants", "must not be below minParticipants")
    accounts = given.account_ids
    return RuleConditions(
        channels=None if given.channels is None else frozenset(given.channels),
        account_ids=None
        if accounts is None
        else frozenset(int_key(account, "Account") for account in accounts),
        match=given.match,
        min_confidence=confidence,
        domains_in=_domains(given.domains_in, f"{field}.domainsIn"),
        domains_not_in=_domains(given.domains_not_in, f"{field}.domainsNotIn"),
        internal_only=given.internal_only,
        group=given.group,
        folders=None if given.folders is None else frozenset(given.folders),
        min_participants=least,
        max_participants=most,
    )


def _rule(given: StorageRuleInput, field: str) -> Rule:
    name = given.name.strip()
    if not name:
        raise _refuse(f"{field}.name", "must not be blank")
    return Rule(
        id="",
        name=name,
        action=given.action,
        conditions=_conditions(given, field),
        limits=RuleLimits(
            days_back=_count(given.days_back, f"{field}.daysBack", 1, MAX_DAYS),
            messages_per_conversation=_count(
                given.messages_per_conversation,
                f"{field}.messagesPerConversation",
                1,
                MAX_MESSAGES,
            ),
            retention_days=_count(given.retention_days, f"{field}.retentionDays", 1, MAX_DAYS),
        ),
    )


def draft_of(given: StorageRulesInput, argument: str) -> resolvers.RulesDraft:
    """The rules a client sent, checked and parsed; the first problem is `BAD_USER_INPUT`,
    naming its field (`rules[2].domainsIn[0]`)."""
    check(given, argument)
    prefix = f"{argument}." if argument else ""
    rules = tuple(_rule(rule, f"{prefix}rules[{index}]") for index, rule in enumerate(given.rules))
    return resolvers.RulesDraft(rules, _domains(given.own_domains, f"{prefix}ownDomains"))


@strawberry.type(description="How many conversations a draft would give an action.")
class StorageActionCount:
    action: StorageAction
    count: int


@strawberry.type(description="One conversation under a draft of the rules.")
class StoragePreviewExample:
    conversation: Conversation
    action: StorageAction = strawberry.field(description="Under the draft.")
    current_action: StorageAction = strawberry.field(description="Under the rules in force.")
    rule: StorageRule | None = strawberry.field(description="The draft's rule that holds.")


@strawberry.type(
    description="What a draft of the rules would decide over the viewer's most recent "
    f"conversations (up to {resolvers.PREVIEW_CONVERSATIONS}, from the live cache where it has "
    "them). Nothing is saved or queued."
)
class StorageRulesPreview:
    evaluated: int = strawberry.field(description="Conversations decided.")
    counts: list[StorageActionCount] = strawberry.field(description="One per action.")
    changed: int = strawberry.field(description="Decided otherwise than by the rules in force.")
    examples: list[StoragePreviewExample] = strawberry.field(
        description=f"Up to {resolvers.PREVIEW_EXAMPLES} of each action, changed ones first."
    )

    @classmethod
    def of(cls, preview: resolvers.StoragePreview, viewer_id: int) -> StorageRulesPreview:
        return cls(
            evaluated=preview.evaluated,
            counts=[StorageActionCount(action=a, count=n) for a, n in preview.counts.items()],
            changed=preview.changed,
            examples=[_example(item, viewer_id) for item in preview.examples],
        )


def _example(item: resolvers.PreviewedConversation, viewer_id: int) -> StoragePreviewExample:
    rule = item.decision.rule
    return StoragePreviewExample(
        conversation=Conversation.from_facts(item.facts, viewer_id),
        action=resolvers.action_of(item.decision),
        current_action=resolvers.action_of(item.facts.decision),
        rule=None if rule is None else StorageRule.from_rule(rule),
    )


async def _storage_rules(info: Info[Context, None]) -> StorageRules:
    return StorageRules.from_rules(await resolvers.storage_rules(info.context))


async def _preview(info: Info[Context, None], input: StorageRulesInput) -> StorageRulesPreview:
    draft = draft_of(input, "input")
    preview = await resolvers.preview_storage_rules(info.context, draft)
    return StorageRulesPreview.of(preview, info.context.viewer().user_id)


async def _set_storage_rules(
    info: Info[Context, None], input: StorageRulesInput
) -> StorageRulesPayload:
    outcome: Rules | MutationError
    try:
        outcome = await resolvers.set_storage_rules(info.context, draft_of(input, ""))
    except Unauthenticated:
        raise
    except SwitchboardError as error:
        outcome = MutationError.of(error)
    return StorageRulesPayload.of(outcome)


strawberry.enum(
    PruneKind,
    description="Which stored copies a prune deletes. UNMATCHED: those no rule keeps any more "
    "(neither stored nor suggested by the rules in force). EXPIRED: those whose rule's "
    "`retentionDays` have passed since their last activity. Copies a user stored or linked are "
    "never pruned.",
)


@strawberry.type(description="A stored conversation a prune would delete, or deleted.")
class PrunableConversation:
    conversation_id: strawberry.ID
    account: Account
    last_activity_at: datetime
    reason: StorageReason = strawberry.field(description="What the rules in force decide.")
    rule: StorageRule | None = strawberry.field(description="The rule that holds, if any.")

    @classmethod
    def of(cls, item: Prunable, viewer_id: int) -> PrunableConversation:
        record, decision = item.facts.record, item.facts.decision
        return cls(
            conversation_id=strawberry.ID(conversation_id(*record.key)),
            account=Account.from_model(record.account, viewer_id),
            last_activity_at=item.last_activity,
            reason=decision.reason,
            rule=None if decision.rule is None else StorageRule.from_rule(decision.rule),
        )


@strawberry.input(description="The conversations of a dry run (`prunableConversations`).")
class PruneInput:
    conversation_ids: list[strawberry.ID] = strawberry.field(
        description=f"At most {MAX_PRUNABLE}; those that no longer qualify are left alone.",
        metadata=bounds(ID_LENGTH, max_items=MAX_PRUNABLE),
    )


@strawberry.type
class PrunePayload:
    deleted: list[PrunableConversation] | None = None
    error: MutationError | None = None


def _keys(given: PruneInput) -> list[tuple[int, str]]:
    check(given, "")
    keys = []
    for index, global_id in enumerate(given.conversation_ids):
        typed = key_of(global_id, "Conversation")
        parsed = None if typed is None else conversation_key(typed[1])
        if parsed is None:
            raise _refuse(f"conversationIds[{index}]", "is not a conversation's id")
        keys.append(parsed)
    return keys


async def _prunable(info: Info[Context, None], kind: PruneKind) -> list[PrunableConversation]:
    found = await resolvers.prunable_conversations(info.context, kind)
    viewer_id = info.context.viewer().user_id
    return [PrunableConversation.of(item, viewer_id) for item in found]


async def _pruned(info: Info[Context, None], kind: PruneKind, given: PruneInput) -> PrunePayload:
    try:
        deleted = await resolvers.prune_stored(info.context, kind, _keys(given))
    except Unauthenticated:
        raise
    except SwitchboardError as error:
        return PrunePayload(error=MutationError.of(error))
    viewer_id = info.context.viewer().user_id
    return PrunePayload(deleted=[PrunableConversation.of(item, viewer_id) for item in deleted])


async def _purge_unmatched(info: Info[Context, None], input: PruneInput) -> PrunePayload:
    return await _pruned(info, PruneKind.UNMATCHED, input)


async def _expire(info: Info[Context, None], input: PruneInput) -> PrunePayload:
    return await _pruned(info, PruneKind.EXPIRED, input)


@strawberry.type
class StorageRulesQuery:
    storage_rules: StorageRules = strawberry.field(
        resolver=_storage_rules,
        description="The workspace's storage rules, as the inbox applies them.",
    )
    preview_storage_rules: StorageRulesPreview = strawberry.field(
        resolver=_preview,
        description="What a draft of the workspace's own rules would decide over the viewer's "
        "most recent conversations, before anything is saved.",
    )
    prunable_conversations: list[PrunableConversation] = strawberry.field(
        resolver=_prunable,
        description="The dry run of `purgeUnmatched` or of retention (admins only): the stored "
        f"copies it would delete now, up to {MAX_PRUNABLE}, oldest activity first.",
    )


@strawberry.type
class StorageRulesMutation:
    set_storage_rules: StorageRulesPayload = strawberry.mutation(
        resolver=_set_storage_rules,
        description="Replace the workspace's own storage rules (admins only). Audited, and in "
        "force at once; stored conversations they no longer select stay stored.",
    )
    purge_unmatched: PrunePayload = strawberry.mutation(
        resolver=_purge_unmatched,
        description="Delete the stored copies no rule keeps any more (admins only): those of "
        "the ids a dry run (`prunableConversations(kind: UNMATCHED)`) listed that still "
        "qualify. Audited.",
    )
    expire_stored_conversations: PrunePayload = strawberry.mutation(
        resolver=_expire,
        description="Apply retention now (the job queue does it hourly), to the ids a dry run "
        "(`prunableConversations(kind: EXPIRED)`) listed that still qualify (admins only). "
        "Audited.",
    )

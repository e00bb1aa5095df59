"""A workspace's storage rules as GraphQL reads, previews and replaces them: admins checked,
accounts checked against the workspace, drafts decided over the viewer's inbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.errors import BadUserInput
from core.vocabulary import StorageAction
from crm import StorageDecision, StorageRule, StorageRules, decide_storage
from crm import storage_rules as writes
from db.models import Account
from inbox import conversations
from inbox.facts import ConversationFacts
from inbox.filters import InboxFilter
from resolvers.context import Context
from storing.pruning import Prunable, PruneKind, prunable, prune

__all__ = [
    "PREVIEW_CONVERSATIONS",
    "PREVIEW_EXAMPLES",
    "PreviewedConversation",
    "RulesDraft",
    "StoragePreview",
    "action_of",
    "preview_storage_rules",
    "prunable_conversations",
    "prune_stored",
    "set_storage_rules",
    "storage_rules",
]

PREVIEW_CONVERSATIONS = 100
"""The most recent conversations of the viewer's inbox a preview decides over (its first page,
from the live cache where it has it)."""
PREVIEW_EXAMPLES = 5
"""Examples a preview gives of each action."""


@dataclass(frozen=True, slots=True)
class RulesDraft:
    """Rules as a client sent them, ids and domains already parsed; the ids of the accounts its
    conditions name are checked against the workspace before use."""

    rules: tuple[StorageRule, ...]
    own_domains: frozenset[str] | None

    @property
    def account_ids(self) -> frozenset[int]:
        return frozenset(
            account_id for rule in self.rules for account_id in (rule.conditions.account_ids or ())
        )

    def over(self, current: StorageRules) -> StorageRules:
        """The workspace's rules with this draft in place of its own rules (and domains)."""
        own_domains = current.own_domains if self.own_domains is None else self.own_domains
        return replace(current, rules=self.rules, own_domains=own_domains)


@dataclass(frozen=True, slots=True)
class PreviewedConversation:
    facts: ConversationFacts
    decision: StorageDecision
    """Under the draft; `facts.decision` is under the rules in force."""


@dataclass(frozen=True, slots=True)
class StoragePreview:
    evaluated: int
    counts: dict[StorageAction, int]
    changed: int
    """How many would be decided otherwise than today."""
    examples: list[PreviewedConversation]


def action_of(decision: StorageDecision) -> StorageAction:
    """STORE: stored automatically; SUGGEST: `shouldStore` only; NEVER: neither."""
    if decision.auto_store:
        return StorageAction.STORE
    return StorageAction.SUGGEST if decision.should_store else StorageAction.NEVER


async def storage_rules(context: Context) -> StorageRules:
    return await context.rules()


async def set_storage_rules(context: Context, draft: RulesDraft) -> StorageRules:
    """Replace the rules; the conversations they now store are then queued in the background
    (a sweep), and those they no longer keep stay stored until a purge."""
    identity = context.require_admin()
    await _check_accounts(identity.workspace_id, draft.account_ids)
    rules = await writes.replace_storage_rules(
        identity.workspace_id, identity.user_id, draft.rules, draft.own_domains
    )
    await context.services.sweeper.request(identity.workspace_id)
    return rules


async def preview_storage_rules(context: Context, draft: RulesDraft) -> StoragePreview:
    """What `draft` would decide over the viewer's most recent conversations; nothing is saved
    and nothing queued."""
    identity = context.viewer()
    await _check_accounts(identity.workspace_id, draft.account_ids)
    reading = await context.reading()
    page = await conversations.inbox_page(
        reading,
        context.services.live_cache,
        context.pager("storage-preview"),
        InboxFilter(),
        PREVIEW_CONVERSATIONS,
        None,
    )
    rules = draft.over(await reading.rules())
    previewed = [
        PreviewedConversation(facts, decide_storage(facts.storage, rules))
        for facts, _ in page.edges
    ]
    return StoragePreview(
        evaluated=len(previewed),
        counts=_counts(previewed),
        changed=sum(1 for p in previewed if action_of(p.decision) != action_of(p.facts.decision)),
        examples=_examples(previewed),
    )


def _counts(previewed: Sequence[PreviewedConversation]) -> dict[StorageAction, int]:
    counted = Counter(action_of(p.decision) for p in previewed)
    return {action: counted[action] for action in StorageAction}


def _examples(previewed: Sequence[PreviewedConversation]) -> list[PreviewedConversation]:
    """The first few of each action, those the draft changes first."""
    ordered = sorted(previewed, key=lambda p: action_of(p.decision) == action_of(p.facts.decision))
    shown: Counter[StorageAction] = Counter()
    examples = []
    for item in ordered:
        action = action_of(item.decision)
        if shown[action] < PREVIEW_EXAMPLES:
            shown[action] += 1
            examples.append(item)
    return examples


async def _check_accounts(workspace_id: int, account_ids: frozenset[int]) -> None:
    """Every account a rule names is one of the workspace's: another workspace's ids are
    refused like ids that name nothing, telling nothing of the other workspace."""
    if not account_ids:
        return
    found = await Account.filter(workspace_id=workspace_id, id__in=account_ids).count()
    if found != len(account_ids):
        raise BadUserInput("a rule names an account that is not one of the workspace's")


async def prunable_conversations(context: Context, kind: PruneKind) -> list[Prunable]:
    """The dry run of a prune (admins only: it lists every account's stored copies)."""
    identity = context.require_admin()
    services = context.services
    return await prunable(identity.workspace_id, kind, services.unipile, services.attendee_cache)


async def prune_stored(
    context: Context, kind: PruneKind, keys: Sequence[tuple[int, str]]
) -> list[Prunable]:
    """Delete those of `keys` (from a dry run) that still qualify; what was deleted."""
    identity = context.require_admin()
    services = context.services
    return await prune(
        identity.workspace_id,
        identity.user_id,
        kind,
        keys,
        services.unipile,
        services.attendee_cache,
    )

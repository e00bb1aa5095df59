"""Whether a conversation is stored: a pure decision over its facts (matches, links, what it is)
and the workspace's storage rules (`crm.rules`: its own, then its channel policies).

A user's explicit link or store always wins, over the rules and over the never-store list alike;
the never-store list wins over the rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from tortoise.connection import get_connection

from core.vocabulary import (
    Channel,
    IdentifierKind,
    LinkSource,
    NeverStoreKind,
    StorageAction,
    StoragePolicy,
    StorageReason,
)
from crm.matching import CandidateKind, Match, lookup_identifiers
from crm.normalize import Identifier
from crm.rules import (
    ConversationTraits,
    MatchedKinds,
    StorageRule,
    first_holding,
    host_in,
    policy_rule,
    rule_from_json,
)
from db.models import ConversationLink, Workspace
from db.sql import placeholders

__all__ = [
    "DEFAULT_POLICIES",
    "OWN_DOMAIN_ROW",
    "POLICY_ROW",
    "RULE_ROW",
    "SYNC_LIMITS",
    "LinkState",
    "NeverStoreList",
    "RuleRow",
    "StorageDecision",
    "StorageFacts",
    "StorageRules",
    "SyncLimits",
    "decide_storage",
    "default_policy",
    "load_storage_rules",
    "storage_rules_of",
    "sync_limits",
]

# Email is stored as soon as it matches; on messaging channels a user confirms first.
DEFAULT_POLICIES: Mapping[Channel, StoragePolicy] = MappingProxyType(
    {
        channel: StoragePolicy.AUTO if channel.is_email else StoragePolicy.MANUAL
        for channel in Channel
    }
)


def default_policy(channel: Channel) -> StoragePolicy:
    return DEFAULT_POLICIES[channel]


@dataclass(frozen=True, slots=True)
class NeverStoreList:
    """Normalised addresses, numbers and hosts; a host also covers its subdomains."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    def blocks(self, identifier: Identifier) -> bool:
        if identifier.kind is IdentifierKind.PHONE:
            return identifier.value in self.phones
        if identifier.kind is not IdentifierKind.EMAIL:
            return False
        addresses = {key.value for key in lookup_identifiers(identifier)}
        return not self.emails.isdisjoint(addresses) or self._blocks_host(
            identifier.value.rpartition("@")[2]
        )

    def _blocks_host(self, host: str) -> bool:
        return host_in(host, self.domains)


@dataclass(frozen=True, slots=True)
class StorageRules:
    """A workspace's own rules (in order), its policy overrides per channel, its never-store
    list, and its own domains (what `internalOnly` compares with)."""

    policies: Mapping[Channel, StoragePolicy]
    never_store: NeverStoreList
    rules: tuple[StorageRule, ...] = ()
    own_domains: frozenset[str] = frozenset()
    ordered: tuple[StorageRule, ...] = field(init=False, compare=False)
    """The workspace's rules, then one rule per channel policy: the order they are tried in."""

    def __post_init__(self) -> None:
        channel_rules = tuple(policy_rule(c, self.policy_for(c)) for c in Channel)
        object.__setattr__(self, "ordered", self.rules + channel_rules)

    def policy_for(self, channel: Channel) -> StoragePolicy:
        return self.policies.get(channel, default_policy(channel))

    def rule(self, rule_id: str) -> StorageRule | None:
        return next((rule for rule in self.ordered if rule.id == rule_id), None)


_RULES_SQL = """
SELECT 'POLICY' AS row_kind, channel AS name, policy AS value
FROM storage_policy WHERE workspace_id = {0}
UNION ALL
SELECT kind, kind, value FROM never_store WHERE workspace_id = {1}
UNION ALL
SELECT 'RULE', CAST(id AS VARCHAR(20)), definition FROM storage_rule WHERE workspace_id = {2}
UNION ALL
SELECT 'OWN_DOMAIN', 'OWN_DOMAIN', domain FROM own_domain WHERE workspace_id = {3}
"""
RULES_SQL_WORKSPACES = 4
"""How many times `_RULES_SQL` names the workspace (one placeholder each)."""

# The row kinds among `RuleRow`s beside a never-store entry's (its kind).
POLICY_ROW = "POLICY"
RULE_ROW = "RULE"
OWN_DOMAIN_ROW = "OWN_DOMAIN"
# (row kind, name, value): a policy is (POLICY_ROW, channel, policy), an entry (kind, kind, value),
# a rule (RULE_ROW, its id, its JSON), an own domain (OWN_DOMAIN_ROW, OWN_DOMAIN_ROW, domain).
RuleRow = tuple[str, str, str]


def rules_sql(first_placeholder: int) -> str:
    """The rules' read, its placeholders numbered from `first_placeholder` (to join others)."""
    return _RULES_SQL.format(*placeholders(first_placeholder, RULES_SQL_WORKSPACES))


async def load_storage_rules(workspace: Workspace | int) -> StorageRules:
    """The workspace's storage rules, in one read."""
    workspace_id = workspace.id if isinstance(workspace, Workspace) else workspace
    rows = await get_connection("default").execute_query_dict(
        rules_sql(1), [workspace_id] * RULES_SQL_WORKSPACES
    )
    return storage_rules_of((row["row_kind"], row["name"], row["value"]) for row in rows)


def storage_rules_of(rows: Iterable[RuleRow]) -> StorageRules:
    """The rules their rows say, however they were read (alone, or with other reads in one)."""
    policies: dict[Channel, StoragePolicy] = {}
    values: dict[NeverStoreKind, set[str]] = {kind: set() for kind in NeverStoreKind}
    rules: list[tuple[int, StorageRule]] = []
    own_domains: set[str] = set()
    for row_kind, name, value in rows:
        if row_kind == POLICY_ROW:
            policies[Channel(name)] = StoragePolicy(value)
        elif row_kind == RULE_ROW:
            definition = json.loads(value)
            rules.append((int(definition["position"]), rule_from_json(name, definition)))
        elif row_kind == OWN_DOMAIN_ROW:
            own_domains.add(value)
        else:
            values[NeverStoreKind(row_kind)].add(value)
    return StorageRules(
        policies=MappingProxyType(policies),
        never_store=NeverStoreList(
            emails=frozenset(values[NeverStoreKind.EMAIL]),
            phones=frozenset(values[NeverStoreKind.PHONE]),
            domains=frozenset(values[NeverStoreKind.DOMAIN]),
        ),
        rules=tuple(rule for _, rule in sorted(rules, key=lambda item: item[0])),
        own_domains=frozenset(own_domains),
    )


@dataclass(frozen=True, slots=True)
class LinkState:
    """A conversation's link to a contact or company; `removed` marks a tombstone."""

    target: CandidateKind
    target_id: int
    source: LinkSource
    removed: bool = False

    @classmethod
    def of(cls, link: ConversationLink) -> LinkState:
        removed = link.removed_at is not None
        if link.contact_id is not None:
            return cls(CandidateKind.CONTACT, link.contact_id, link.source, removed)
        if link.company_id is not None:
            return cls(CandidateKind.COMPANY, link.company_id, link.source, removed)
        raise ValueError("a link names a contact or a company")


@dataclass(frozen=True, slots=True)
class StorageDecision:
    should_store: bool
    reason: StorageReason
    auto_store: bool
    """Store now without asking anyone: a STORE rule holds, and nothing is blocked."""
    rule: StorageRule | None = None
    """The first rule that holds, also when a user's link or store decides over it; None when
    none holds, or when the never-store list blocks the conversation."""


@dataclass(frozen=True, slots=True)
class StorageFacts:
    """What the decision reads of one conversation."""

    traits: ConversationTraits
    matches: tuple[Match, ...]
    """Its participants' matches, the account's own identities included (they are skipped)."""
    links: tuple[LinkState, ...] = ()
    """Its links and their tombstones."""
    manually_stored: bool = False


def matched_kinds(matches: Iterable[Match], links: Iterable[LinkState]) -> MatchedKinds:
    """The kinds of record matched, each with its best confidence, by participants or by the
    matcher's earlier links (which stand at full confidence), leaving out records a user
    unlinked from this conversation (their tombstones)."""
    links = tuple(links)
    removed = {(link.target, link.target_id) for link in links if link.removed}
    best: dict[tuple[CandidateKind, int], float] = {
        (link.target, link.target_id): 1.0
        for link in links
        if not link.removed and link.source is LinkSource.MATCHER
    }
    for match in matches:
        if match.is_own:
            continue
        for candidate in match.candidates:
            key = (candidate.kind, candidate.id)
            best[key] = max(best.get(key, 0.0), candidate.confidence)
    kinds: dict[CandidateKind, float] = {}
    for (kind, target_id), confidence in best.items():
        if (kind, target_id) not in removed:
            kinds[kind] = max(kinds.get(kind, 0.0), confidence)
    return kinds


def _match_reason(kinds: MatchedKinds) -> StorageReason | None:
    if CandidateKind.CONTACT in kinds:
        return StorageReason.CONTACT_MATCH
    if CandidateKind.COMPANY in kinds:
        return StorageReason.COMPANY_MATCH
    return None


def decide_storage(facts: StorageFacts, rules: StorageRules) -> StorageDecision:
    """Whether a conversation should be stored, why, whether without asking a user, and the
    rule that said so."""
    others = [match for match in facts.matches if not match.is_own]
    matched = matched_kinds(others, facts.links)
    blocked = any(rules.never_store.blocks(match.identifier) for match in others)
    rule = first_holding(rules.ordered, facts.traits, matched, rules.own_domains)
    action = None if rule is None else rule.action
    storing = action in (StorageAction.STORE, StorageAction.SUGGEST)
    auto_store = action is StorageAction.STORE and not blocked
    if any(not link.removed and link.source is LinkSource.USER for link in facts.links):
        return StorageDecision(True, StorageReason.MANUAL_LINK, auto_store, rule)
    if facts.manually_stored:
        return StorageDecision(True, StorageReason.MANUAL_STORE, auto_store, rule)
    if blocked:
        return StorageDecision(False, StorageReason.BLOCKED, False)
    if not storing:
        return StorageDecision(False, StorageReason.NONE, False, rule)
    return StorageDecision(True, _match_reason(matched) or StorageReason.RULE, auto_store, rule)


@dataclass(frozen=True, slots=True)
class SyncLimits:
    """How much of a conversation a sync fetches."""

    max_conversations: int
    max_messages_per_conversation: int
    days_back: int


# The original system's defaults: email threads up to 50 messages, chats up to 100, 30 days back;
# up to 100 email threads and 50 chats per run.
_EMAIL_SYNC_LIMITS = SyncLimits(
    max_conversations=100, max_messages_per_conversation=50, days_back=30
)
_CHAT_SYNC_LIMITS = SyncLimits(
    max_conversations=50, max_messages_per_conversation=100, days_back=30
)
SYNC_LIMITS: Mapping[Channel, SyncLimits] = MappingProxyType(
    {channel: _EMAIL_SYNC_LIMITS if channel.is_email else _CHAT_SYNC_LIMITS for channel in Channel}
)


def sync_limits(channel: Channel, rule: StorageRule | None = None) -> SyncLimits:
    """The channel's limits, with those `rule` sets (a rule leaves the others to the channel)."""
    default = SYNC_LIMITS[channel]
    if rule is None:
        return default
    limits = rule.limits
    return replace(
        default,
        days_back=default.days_back if limits.days_back is None else limits.days_back,
        max_messages_per_conversation=default.max_messages_per_conversation
        if limits.messages_per_conversation is None
        else limits.messages_per_conversation,
    )

"""Whether a conversation is stored: a pure decision over matches, links and the workspace's rules.

Rules only govern what happens on a match. A user's explicit link or store always wins, over the
channel's policy and over the never-store list alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tortoise.connection import get_connection

from core.vocabulary import (
    Channel,
    IdentifierKind,
    LinkSource,
    NeverStoreKind,
    StoragePolicy,
    StorageReason,
)
from crm.matching import CandidateKind, Match, lookup_identifiers
from crm.normalize import Identifier
from db.models import ConversationLink, Workspace
from db.sql import placeholders

__all__ = [
    "DEFAULT_POLICIES",
    "POLICY_ROW",
    "SYNC_LIMITS",
    "LinkState",
    "NeverStoreList",
    "RuleRow",
    "StorageDecision",
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
        labels = host.split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels)))


@dataclass(frozen=True, slots=True)
class StorageRules:
    """A workspace's policy overrides per channel and its never-store list."""

    policies: Mapping[Channel, StoragePolicy]
    never_store: NeverStoreList

    def policy_for(self, channel: Channel) -> StoragePolicy:
        return self.policies.get(channel, default_policy(channel))


_RULES_SQL = """
SELECT 'POLICY' AS row_kind, channel AS name, policy AS value
FROM storage_policy WHERE workspace_id = {0}
UNION ALL
SELECT kind, kind, value FROM never_store WHERE workspace_id = {1}
"""

# The row kind of a channel's policy among `RuleRow`s; a never-store entry's is its kind.
POLICY_ROW = "POLICY"
# (row kind, name, value): a policy is (POLICY_ROW, channel, policy), an entry (kind, kind, value).
RuleRow = tuple[str, str, str]


async def load_storage_rules(workspace: Workspace | int) -> StorageRules:
    """The workspace's storage rules, in one read."""
    workspace_id = workspace.id if isinstance(workspace, Workspace) else workspace
    sql = _RULES_SQL.format(*placeholders(1, 2))
    rows = await get_connection("default").execute_query_dict(sql, [workspace_id, workspace_id])
    return storage_rules_of((row["row_kind"], row["name"], row["value"]) for row in rows)


def storage_rules_of(rows: Iterable[RuleRow]) -> StorageRules:
    """The rules their rows say, however they were read (alone, or with other reads in one)."""
    policies: dict[Channel, StoragePolicy] = {}
    values: dict[NeverStoreKind, set[str]] = {kind: set() for kind in NeverStoreKind}
    for row_kind, name, value in rows:
        if row_kind == POLICY_ROW:
            policies[Channel(name)] = StoragePolicy(value)
        else:
            values[NeverStoreKind(row_kind)].add(value)
    return StorageRules(
        policies=MappingProxyType(policies),
        never_store=NeverStoreList(
            emails=frozenset(values[NeverStoreKind.EMAIL]),
            phones=frozenset(values[NeverStoreKind.PHONE]),
            domains=frozenset(values[NeverStoreKind.DOMAIN]),
        ),
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
    # Store now without asking anyone: AUTO policy, a match, and nobody blocked.
    auto_store: bool


def _matched_kinds(matches: Iterable[Match], links: Iterable[LinkState]) -> set[CandidateKind]:
    """The kinds of record matched, by participants or by the matcher's earlier links, leaving
    out records a user unlinked from this conversation (their tombstones)."""
    links = tuple(links)
    removed = {(link.target, link.target_id) for link in links if link.removed}
    linked = {
        (link.target, link.target_id)
        for link in links
        if not link.removed and link.source is LinkSource.MATCHER
    }
    candidates = {
        (candidate.kind, candidate.id)
        for match in matches
        if not match.is_own
        for candidate in match.candidates
    }
    return {kind for kind, _ in (candidates | linked) - removed}


def _match_reason(kinds: set[CandidateKind]) -> StorageReason | None:
    if CandidateKind.CONTACT in kinds:
        return StorageReason.CONTACT_MATCH
    if CandidateKind.COMPANY in kinds:
        return StorageReason.COMPANY_MATCH
    return None


def decide_storage(
    matches: Iterable[Match],
    links: Iterable[LinkState],
    policy: StoragePolicy,
    never_store: NeverStoreList,
    *,
    manually_stored: bool = False,
) -> StorageDecision:
    """Whether a conversation should be stored, why, and whether without asking a user.

    `matches` are its participants' (own identities included: they are skipped), `links` its
    links and tombstones, `policy` its channel's, `manually_stored` whether a user stored it.
    """
    matches = tuple(matches)
    links = tuple(links)
    match_reason = _match_reason(_matched_kinds(matches, links))
    blocked = any(never_store.blocks(m.identifier) for m in matches if not m.is_own)
    auto_store = policy is StoragePolicy.AUTO and match_reason is not None and not blocked
    if any(not link.removed and link.source is LinkSource.USER for link in links):
        return StorageDecision(True, StorageReason.MANUAL_LINK, auto_store)
    if manually_stored:
        return StorageDecision(True, StorageReason.MANUAL_STORE, auto_store)
    if blocked:
        return StorageDecision(False, StorageReason.BLOCKED, False)
    if policy is StoragePolicy.NEVER or match_reason is None:
        return StorageDecision(False, StorageReason.NONE, False)
    return StorageDecision(True, match_reason, auto_store)


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


def sync_limits(channel: Channel) -> SyncLimits:
    return SYNC_LIMITS[channel]

"""Storage rules: a workspace's ordered list, where the first rule whose conditions all hold
decides what happens to a conversation (`STORE`, `SUGGEST`, `NEVER`) and how much of it a sync
keeps. Pure: the rules and the facts they read are values, and `first_holding` is a function.

After the workspace's own rules come its channel policies, one rule per channel ("a CRM match on
this channel: the channel's policy"), so that a workspace with no rules of its own decides as the
per-channel policies always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from core.vocabulary import Channel, RuleMatch, StorageAction, StoragePolicy
from crm.matching import CandidateKind

__all__ = [
    "POLICY_ACTIONS",
    "ConversationTraits",
    "MatchedKinds",
    "RuleConditions",
    "RuleLimits",
    "StorageRule",
    "first_holding",
    "host_in",
    "policy_rule",
    "policy_rule_id",
    "rule_from_json",
    "rule_to_json",
]

POLICY_ACTIONS: Mapping[StoragePolicy, StorageAction] = {
    StoragePolicy.AUTO: StorageAction.STORE,
    StoragePolicy.MANUAL: StorageAction.SUGGEST,
    StoragePolicy.NEVER: StorageAction.NEVER,
}
_POLICY_RULE_PREFIX = "policy-"

MatchedKinds = Mapping[CandidateKind, float]
"""The kinds of CRM record a conversation matched, each with its best confidence."""


def host_in(host: str, domains: frozenset[str]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


@dataclass(frozen=True, slots=True)
class ConversationTraits:
    """What a rule can ask of a conversation, its CRM matches aside."""

    channel: Channel
    account_id: int
    domains: frozenset[str]
    """The email domains of its participants, the account's own address left out."""
    participants: int
    """How many take part, the account itself left out."""
    has_non_email_participant: bool
    is_group: bool
    folders: frozenset[str]
    """An email thread's folders (UniPile's roles, `INBOX`, `SENT`...); empty for a chat."""


@dataclass(frozen=True, slots=True)
class RuleConditions:
    """What a rule holds for; every condition set must hold, an unset one (None) always does."""

    channels: frozenset[Channel] | None = None
    account_ids: frozenset[int] | None = None
    match: RuleMatch | None = None
    min_confidence: float | None = None
    """With `match` CONTACT, COMPANY or EITHER: the matched record's confidence at least this."""
    domains_in: frozenset[str] | None = None
    """Some participant's email domain is one of these (or under one)."""
    domains_not_in: frozenset[str] | None = None
    """No participant's email domain is one of these (nor under one)."""
    internal_only: bool | None = None
    """True: every participant is on one of the workspace's own domains; False: someone is not."""
    group: bool | None = None
    folders: frozenset[str] | None = None
    """An email thread in one of these folders."""
    min_participants: int | None = None
    max_participants: int | None = None

    def hold_for(
        self, facts: ConversationTraits, matched: MatchedKinds, own_domains: frozenset[str]
    ) -> bool:
        return all(
            (
                self.channels is None or facts.channel in self.channels,
                self.account_ids is None or facts.account_id in self.account_ids,
                self._match_holds(matched),
                self.domains_in is None or any(host_in(d, self.domains_in) for d in facts.domains),
                self.domains_not_in is None
                or not any(host_in(d, self.domains_not_in) for d in facts.domains),
                self.internal_only is None
                or self.internal_only == _internal_only(facts, own_domains),
                self.group is None or facts.is_group == self.group,
                self.folders is None or not self.folders.isdisjoint(facts.folders),
                self.min_participants is None or facts.participants >= self.min_participants,
                self.max_participants is None or facts.participants <= self.max_participants,
            )
        )

    def _match_holds(self, matched: MatchedKinds) -> bool:
        if self.match is None:
            return True
        if self.match is RuleMatch.NONE:
            return not matched
        kinds = _MATCHED_KINDS[self.match]
        least = self.min_confidence or 0.0
        return any(kind in matched and matched[kind] >= least for kind in kinds)


_MATCHED_KINDS: Mapping[RuleMatch, tuple[CandidateKind, ...]] = {
    RuleMatch.CONTACT: (CandidateKind.CONTACT,),
    RuleMatch.COMPANY: (CandidateKind.COMPANY,),
    RuleMatch.EITHER: (CandidateKind.CONTACT, CandidateKind.COMPANY),
}


def _internal_only(facts: ConversationTraits, own_domains: frozenset[str]) -> bool:
    """Everyone is on the workspace's domains: someone reached by phone or a provider id, or
    nobody at all, is not."""
    if facts.has_non_email_participant or not facts.domains or not own_domains:
        return False
    return all(host_in(domain, own_domains) for domain in facts.domains)


@dataclass(frozen=True, slots=True)
class RuleLimits:
    """How much of a conversation a rule's storage keeps; None: the channel's default."""

    days_back: int | None = None
    messages_per_conversation: int | None = None
    retention_days: int | None = None
    """Stored copies are deleted this many days after their last activity; None: kept."""


@dataclass(frozen=True, slots=True)
class StorageRule:
    id: str
    name: str
    action: StorageAction
    conditions: RuleConditions = field(default_factory=RuleConditions)
    limits: RuleLimits = field(default_factory=RuleLimits)

    @property
    def is_policy(self) -> bool:
        """One of the channel policies after the workspace's own rules."""
        return self.id.startswith(_POLICY_RULE_PREFIX)


def policy_rule_id(channel: Channel) -> str:
    return f"{_POLICY_RULE_PREFIX}{channel.value.lower()}"


def policy_rule(channel: Channel, policy: StoragePolicy) -> StorageRule:
    """The channel's policy as a rule: a CRM match on the channel gets the policy's action."""
    verbs = {
        StoragePolicy.AUTO: "stored automatically",
        StoragePolicy.MANUAL: "suggested",
        StoragePolicy.NEVER: "never stored",
    }
    return StorageRule(
        id=policy_rule_id(channel),
        name=f"{channel.value.title()} with a CRM match: {verbs[policy]} (channel policy)",
        action=POLICY_ACTIONS[policy],
        conditions=RuleConditions(channels=frozenset({channel}), match=RuleMatch.EITHER),
    )


def first_holding(
    rules: Iterable[StorageRule],
    facts: ConversationTraits,
    matched: MatchedKinds,
    own_domains: frozenset[str],
) -> StorageRule | None:
    return next(
        (rule for rule in rules if rule.conditions.hold_for(facts, matched, own_domains)), None
    )


# Rules are kept as JSON (one row each), in the names the GraphQL input uses.
_SETS = {"channels", "account_ids", "domains_in", "domains_not_in", "folders"}


def rule_to_json(rule: StorageRule) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    for item in fields(RuleConditions):
        value = getattr(rule.conditions, item.name)
        if value is not None:
            conditions[item.name] = sorted(value) if item.name in _SETS else value
    limits = {
        item.name: getattr(rule.limits, item.name)
        for item in fields(RuleLimits)
        if getattr(rule.limits, item.name) is not None
    }
    return {
        "name": rule.name,
        "action": rule.action.value,
        "conditions": conditions,
        "limits": limits,
    }


def rule_from_json(rule_id: str, data: Mapping[str, Any]) -> StorageRule:
    raw = dict(data.get("conditions") or {})
    conditions: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "channels":
            conditions[name] = frozenset(Channel(v) for v in value)
        elif name == "match":
            conditions[name] = RuleMatch(value)
        elif name in _SETS:
            conditions[name] = frozenset(value)
        else:
            conditions[name] = value
    return StorageRule(
        id=rule_id,
        name=str(data["name"]),
        action=StorageAction(data["action"]),
        conditions=RuleConditions(**conditions),
        limits=RuleLimits(**(data.get("limits") or {})),
    )

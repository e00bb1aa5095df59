"""Storage rules: each condition, first-match-wins, the JSON they are kept as, and that a workspace
with no rules of its own decides exactly as the per-channel policies did before rules existed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.vocabulary import (
    Channel,
    IdentifierKind,
    LinkSource,
    MatchMethod,
    RuleMatch,
    StorageAction,
    StoragePolicy,
    StorageReason,
)
from crm.matching import Candidate, CandidateKind, Match
from crm.normalize import Identifier
from crm.rules import (
    POLICY_ACTIONS,
    ConversationTraits,
    MatchedKinds,
    RuleConditions,
    RuleLimits,
    StorageRule,
    first_holding,
    host_in,
    policy_rule,
    policy_rule_id,
    rule_from_json,
    rule_to_json,
)
from crm.storage import (
    LinkState,
    NeverStoreList,
    StorageDecision,
    StorageFacts,
    StorageRules,
    decide_storage,
    default_policy,
)

CONTACT, COMPANY = CandidateKind.CONTACT, CandidateKind.COMPANY
USER, MATCHER = LinkSource.USER, LinkSource.MATCHER
STORE, SUGGEST, NEVER = StorageAction.STORE, StorageAction.SUGGEST, StorageAction.NEVER
T = TypeVar("T")
MATCH_REASONS = {StorageReason.CONTACT_MATCH, StorageReason.COMPANY_MATCH}


# The oracle: the decision as it was before storage rules -----------------------------------------


def _matched_kinds_before(
    matches: Iterable[Match], links: Iterable[LinkState]
) -> set[CandidateKind]:
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


def _match_reason_before(kinds: set[CandidateKind]) -> StorageReason | None:
    if CandidateKind.CONTACT in kinds:
        return StorageReason.CONTACT_MATCH
    if CandidateKind.COMPANY in kinds:
        return StorageReason.COMPANY_MATCH
    return None


def decide_as_before(
    matches: Iterable[Match],
    links: Iterable[LinkState],
    policy: StoragePolicy,
    never_store: NeverStoreList,
    *,
    manually_stored: bool = False,
) -> StorageDecision:
    """The storage decision before storage rules existed (`crm/storage.py` at e9d48eb): a faithful
    copy of the per-channel-policy logic. It is the behaviour the default rules (a workspace with
    no rules of its own, only its channel policies) must reproduce exactly."""
    matches = tuple(matches)
    links = tuple(links)
    match_reason = _match_reason_before(_matched_kinds_before(matches, links))
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


# Generated conversations ---------------------------------------------------------------------

DOMAINS = ("acme.com", "eu.acme.com", "notacme.com", "globex.com", "else.com")
LOCALS = ("jane", "jane+x", "bob", "hr", "me")
PHONES = ("+33612345678", "+14155550100")
PROVIDER_IDS = ("ACoAAB", "ACoAAC")
IDS = st.integers(min_value=1, max_value=4)
CONFIDENCES = st.one_of(
    st.sampled_from([0.0, 0.5, 0.8, 0.95, 1.0]), st.floats(min_value=0.0, max_value=1.0)
)

emails = st.builds(
    lambda local, host: f"{local}@{host}", st.sampled_from(LOCALS), st.sampled_from(DOMAINS)
)
identifiers = st.one_of(
    st.builds(Identifier, st.just(IdentifierKind.EMAIL), emails),
    st.builds(Identifier, st.just(IdentifierKind.PHONE), st.sampled_from(PHONES)),
    st.builds(Identifier, st.just(IdentifierKind.PROVIDER_ID), st.sampled_from(PROVIDER_IDS)),
)


def candidates(kind: CandidateKind) -> st.SearchStrategy[tuple[Candidate, ...]]:
    one = st.builds(
        Candidate,
        kind=st.just(kind),
        id=IDS,
        name=st.just(kind.value.title()),
        method=st.sampled_from(MatchMethod),
        confidence=CONFIDENCES,
    )
    return st.lists(one, max_size=2).map(tuple)


matches = st.builds(
    Match,
    identifier=identifiers,
    contacts=candidates(CONTACT),
    companies=candidates(COMPANY),
    is_own=st.booleans(),
)
links = st.builds(
    LinkState,
    target=st.sampled_from(CandidateKind),
    target_id=IDS,
    source=st.sampled_from(LinkSource),
    removed=st.booleans(),
)
never_store_lists = st.builds(
    NeverStoreList,
    emails=st.frozensets(emails, max_size=2),
    phones=st.frozensets(st.sampled_from(PHONES), max_size=1),
    domains=st.frozensets(st.sampled_from(DOMAINS), max_size=2),
)
policies = st.dictionaries(st.sampled_from(Channel), st.sampled_from(StoragePolicy)).map(
    MappingProxyType
)
domain_sets = st.frozensets(st.sampled_from(DOMAINS), max_size=3)
folder_sets = st.frozensets(st.sampled_from(("INBOX", "SENT", "ARCHIVE", "SPAM")), max_size=2)
traits = st.builds(
    ConversationTraits,
    channel=st.sampled_from(Channel),
    account_id=IDS,
    domains=domain_sets,
    participants=st.integers(min_value=0, max_value=6),
    has_non_email_participant=st.booleans(),
    is_group=st.booleans(),
    folders=folder_sets,
)


@settings(max_examples=300, deadline=None)
@given(
    traits=traits,
    matches=st.lists(matches, max_size=4).map(tuple),
    links=st.lists(links, max_size=3).map(tuple),
    never_store=never_store_lists,
    policies=policies,
    manually_stored=st.booleans(),
    own_domains=domain_sets,
)
def test_without_own_rules_the_decision_is_as_before(
    traits: ConversationTraits,
    matches: tuple[Match, ...],
    links: tuple[LinkState, ...],
    never_store: NeverStoreList,
    policies: Mapping[Channel, StoragePolicy],
    manually_stored: bool,
    own_domains: frozenset[str],
) -> None:
    facts = StorageFacts(traits, matches, links, manually_stored=manually_stored)
    rules = StorageRules(policies, never_store, own_domains=own_domains)
    policy = policies.get(traits.channel, default_policy(traits.channel))

    decision = decide_storage(facts, rules)
    before = decide_as_before(matches, links, policy, never_store, manually_stored=manually_stored)

    assert (decision.should_store, decision.reason, decision.auto_store) == (
        before.should_store,
        before.reason,
        before.auto_store,
    )
    assert decision.reason is not StorageReason.RULE
    if decision.reason in MATCH_REASONS:
        assert decision.rule is not None
        assert decision.rule.id == policy_rule_id(traits.channel)
        assert decision.rule.action is POLICY_ACTIONS[policy]
        assert decision.rule.is_policy


def test_the_default_rules_are_one_policy_rule_per_channel_after_the_own_rules() -> None:
    own = StorageRule("7", "mine", STORE, RuleConditions(match=RuleMatch.NONE))
    rules = StorageRules({Channel.EMAIL: StoragePolicy.NEVER}, NeverStoreList(), rules=(own,))
    assert rules.ordered[0] is own
    assert [rule.id for rule in rules.ordered[1:]] == [policy_rule_id(c) for c in Channel]
    assert all(rule.is_policy for rule in rules.ordered[1:])
    assert not own.is_policy
    assert rules.rule(policy_rule_id(Channel.EMAIL)) == policy_rule(
        Channel.EMAIL, StoragePolicy.NEVER
    )
    assert rules.rule(policy_rule_id(Channel.SLACK)) == policy_rule(
        Channel.SLACK, default_policy(Channel.SLACK)
    )
    assert rules.rule("7") is own
    assert rules.rule("missing") is None


# Each condition ------------------------------------------------------------------------------

OWN_DOMAINS = frozenset({"acme.com"})
BASE = ConversationTraits(
    channel=Channel.EMAIL,
    account_id=1,
    domains=frozenset({"acme.com"}),
    participants=2,
    has_non_email_participant=False,
    is_group=False,
    folders=frozenset({"INBOX"}),
)
NO_MATCH: MatchedKinds = {}
CONTACT_AT = {CONTACT: 0.8}
COMPANY_AT = {COMPANY: 0.8}
BOTH_AT = {CONTACT: 0.6, COMPANY: 0.9}


def traits_with(**changes: object) -> ConversationTraits:
    return replace(BASE, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("conditions", "facts", "matched", "own_domains", "expected"),
    [
        # channels
        pytest.param(RuleConditions(channels=frozenset({Channel.EMAIL})), BASE, NO_MATCH,
                     OWN_DOMAINS, True, id="channels-listed"),
        pytest.param(RuleConditions(channels=frozenset({Channel.WHATSAPP, Channel.SLACK})), BASE,
                     NO_MATCH, OWN_DOMAINS, False, id="channels-not-listed"),
        pytest.param(RuleConditions(channels=frozenset()), BASE, NO_MATCH, OWN_DOMAINS, False,
                     id="channels-empty-set"),
        # account_ids
        pytest.param(RuleConditions(account_ids=frozenset({1, 2})), BASE, NO_MATCH, OWN_DOMAINS,
                     True, id="accounts-listed"),
        pytest.param(RuleConditions(account_ids=frozenset({2})), BASE, NO_MATCH, OWN_DOMAINS,
                     False, id="accounts-not-listed"),
        # match, without a confidence
        pytest.param(RuleConditions(match=RuleMatch.CONTACT), BASE, CONTACT_AT, OWN_DOMAINS, True,
                     id="match-contact-on-contact"),
        pytest.param(RuleConditions(match=RuleMatch.CONTACT), BASE, COMPANY_AT, OWN_DOMAINS, False,
                     id="match-contact-on-company"),
        pytest.param(RuleConditions(match=RuleMatch.CONTACT), BASE, NO_MATCH, OWN_DOMAINS, False,
                     id="match-contact-on-nothing"),
        pytest.param(RuleConditions(match=RuleMatch.COMPANY), BASE, COMPANY_AT, OWN_DOMAINS, True,
                     id="match-company-on-company"),
        pytest.param(RuleConditions(match=RuleMatch.COMPANY), BASE, CONTACT_AT, OWN_DOMAINS, False,
                     id="match-company-on-contact"),
        pytest.param(RuleConditions(match=RuleMatch.EITHER), BASE, CONTACT_AT, OWN_DOMAINS, True,
                     id="match-either-on-contact"),
        pytest.param(RuleConditions(match=RuleMatch.EITHER), BASE, COMPANY_AT, OWN_DOMAINS, True,
                     id="match-either-on-company"),
        pytest.param(RuleConditions(match=RuleMatch.EITHER), BASE, NO_MATCH, OWN_DOMAINS, False,
                     id="match-either-on-nothing"),
        pytest.param(RuleConditions(match=RuleMatch.NONE), BASE, NO_MATCH, OWN_DOMAINS, True,
                     id="match-none-on-nothing"),
        pytest.param(RuleConditions(match=RuleMatch.NONE), BASE, CONTACT_AT, OWN_DOMAINS, False,
                     id="match-none-on-contact"),
        pytest.param(RuleConditions(match=RuleMatch.NONE), BASE, COMPANY_AT, OWN_DOMAINS, False,
                     id="match-none-on-company"),
        pytest.param(RuleConditions(match=RuleMatch.NONE), BASE, {CONTACT: 0.0}, OWN_DOMAINS,
                     False, id="match-none-on-zero-confidence-contact"),
        # match with min_confidence: equal holds, below fails
        pytest.param(RuleConditions(match=RuleMatch.CONTACT, min_confidence=0.8), BASE,
                     CONTACT_AT, OWN_DOMAINS, True, id="contact-confidence-equal"),
        pytest.param(RuleConditions(match=RuleMatch.CONTACT, min_confidence=0.81), BASE,
                     CONTACT_AT, OWN_DOMAINS, False, id="contact-confidence-below"),
        pytest.param(RuleConditions(match=RuleMatch.COMPANY, min_confidence=0.8), BASE,
                     COMPANY_AT, OWN_DOMAINS, True, id="company-confidence-equal"),
        pytest.param(RuleConditions(match=RuleMatch.COMPANY, min_confidence=0.8000001), BASE,
                     COMPANY_AT, OWN_DOMAINS, False, id="company-confidence-below"),
        pytest.param(RuleConditions(match=RuleMatch.COMPANY, min_confidence=0.9), BASE, BOTH_AT,
                     OWN_DOMAINS, True, id="company-confidence-its-own-not-the-contacts"),
        pytest.param(RuleConditions(match=RuleMatch.CONTACT, min_confidence=0.9), BASE, BOTH_AT,
                     OWN_DOMAINS, False, id="contact-confidence-not-lifted-by-company"),
        pytest.param(RuleConditions(match=RuleMatch.EITHER, min_confidence=0.9), BASE, BOTH_AT,
                     OWN_DOMAINS, True, id="either-confidence-equal-on-one-kind"),
        pytest.param(RuleConditions(match=RuleMatch.EITHER, min_confidence=0.91), BASE, BOTH_AT,
                     OWN_DOMAINS, False, id="either-confidence-below-on-both"),
        pytest.param(RuleConditions(match=RuleMatch.EITHER, min_confidence=1.0), BASE,
                     {COMPANY: 1.0}, OWN_DOMAINS, True, id="either-confidence-full"),
        pytest.param(RuleConditions(match=RuleMatch.CONTACT, min_confidence=0.0), BASE,
                     {CONTACT: 0.0}, OWN_DOMAINS, True, id="contact-confidence-zero-equal"),
        pytest.param(RuleConditions(match=RuleMatch.NONE, min_confidence=0.9), BASE, NO_MATCH,
                     OWN_DOMAINS, True, id="match-none-ignores-confidence"),
        # domains_in: a listed domain or a subdomain of one
        pytest.param(RuleConditions(domains_in=frozenset({"acme.com"})), BASE, NO_MATCH,
                     OWN_DOMAINS, True, id="domains-in-exact"),
        pytest.param(RuleConditions(domains_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset({"eu.acme.com"})), NO_MATCH, OWN_DOMAINS, True,
                     id="domains-in-subdomain"),
        pytest.param(RuleConditions(domains_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset({"notacme.com"})), NO_MATCH, OWN_DOMAINS,
                     False, id="domains-in-lookalike-is-not-under"),
        pytest.param(RuleConditions(domains_in=frozenset({"eu.acme.com"})), BASE, NO_MATCH,
                     OWN_DOMAINS, False, id="domains-in-parent-is-not-under-child"),
        pytest.param(RuleConditions(domains_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset({"globex.com", "eu.acme.com"})), NO_MATCH,
                     OWN_DOMAINS, True, id="domains-in-some-participant"),
        pytest.param(RuleConditions(domains_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset()), NO_MATCH, OWN_DOMAINS, False,
                     id="domains-in-no-email-domains"),
        # domains_not_in: no participant on a listed domain nor under one
        pytest.param(RuleConditions(domains_not_in=frozenset({"acme.com"})), BASE, NO_MATCH,
                     OWN_DOMAINS, False, id="domains-not-in-exact"),
        pytest.param(RuleConditions(domains_not_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset({"eu.acme.com"})), NO_MATCH, OWN_DOMAINS,
                     False, id="domains-not-in-subdomain"),
        pytest.param(RuleConditions(domains_not_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset({"notacme.com"})), NO_MATCH, OWN_DOMAINS, True,
                     id="domains-not-in-lookalike"),
        pytest.param(RuleConditions(domains_not_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset({"globex.com", "eu.acme.com"})), NO_MATCH,
                     OWN_DOMAINS, False, id="domains-not-in-any-participant"),
        pytest.param(RuleConditions(domains_not_in=frozenset({"acme.com"})),
                     traits_with(domains=frozenset()), NO_MATCH, OWN_DOMAINS, True,
                     id="domains-not-in-no-email-domains"),
        # internal_only
        pytest.param(RuleConditions(internal_only=True),
                     traits_with(domains=frozenset({"acme.com", "eu.acme.com"})), NO_MATCH,
                     OWN_DOMAINS, True, id="internal-every-domain-own"),
        pytest.param(RuleConditions(internal_only=False),
                     traits_with(domains=frozenset({"acme.com", "eu.acme.com"})), NO_MATCH,
                     OWN_DOMAINS, False, id="not-internal-every-domain-own"),
        pytest.param(RuleConditions(internal_only=True),
                     traits_with(domains=frozenset({"acme.com", "notacme.com"})), NO_MATCH,
                     OWN_DOMAINS, False, id="internal-one-outsider"),
        pytest.param(RuleConditions(internal_only=False),
                     traits_with(domains=frozenset({"acme.com", "notacme.com"})), NO_MATCH,
                     OWN_DOMAINS, True, id="not-internal-one-outsider"),
        pytest.param(RuleConditions(internal_only=True),
                     traits_with(has_non_email_participant=True), NO_MATCH, OWN_DOMAINS, False,
                     id="internal-phone-participant"),
        pytest.param(RuleConditions(internal_only=False),
                     traits_with(has_non_email_participant=True), NO_MATCH, OWN_DOMAINS, True,
                     id="not-internal-phone-participant"),
        pytest.param(RuleConditions(internal_only=True),
                     traits_with(domains=frozenset(), participants=0), NO_MATCH, OWN_DOMAINS,
                     False, id="internal-nobody"),
        pytest.param(RuleConditions(internal_only=False),
                     traits_with(domains=frozenset(), participants=0), NO_MATCH, OWN_DOMAINS,
                     True, id="not-internal-nobody"),
        pytest.param(RuleConditions(internal_only=True), BASE, NO_MATCH, frozenset(), False,
                     id="internal-without-own-domains"),
        pytest.param(RuleConditions(internal_only=False), BASE, NO_MATCH, frozenset(), True,
                     id="not-internal-without-own-domains"),
        # group
        pytest.param(RuleConditions(group=True), traits_with(is_group=True), NO_MATCH,
                     OWN_DOMAINS, True, id="group-on-group"),
        pytest.param(RuleConditions(group=True), BASE, NO_MATCH, OWN_DOMAINS, False,
                     id="group-on-one-to-one"),
        pytest.param(RuleConditions(group=False), BASE, NO_MATCH, OWN_DOMAINS, True,
                     id="not-group-on-one-to-one"),
        pytest.param(RuleConditions(group=False), traits_with(is_group=True), NO_MATCH,
                     OWN_DOMAINS, False, id="not-group-on-group"),
        # folders
        pytest.param(RuleConditions(folders=frozenset({"INBOX", "SENT"})), BASE, NO_MATCH,
                     OWN_DOMAINS, True, id="folders-one-shared"),
        pytest.param(RuleConditions(folders=frozenset({"SENT"})), BASE, NO_MATCH, OWN_DOMAINS,
                     False, id="folders-none-shared"),
        pytest.param(RuleConditions(folders=frozenset({"INBOX"})),
                     traits_with(channel=Channel.WHATSAPP, folders=frozenset()), NO_MATCH,
                     OWN_DOMAINS, False, id="folders-on-a-chat"),
        # participants, bounds inclusive
        pytest.param(RuleConditions(min_participants=2), BASE, NO_MATCH, OWN_DOMAINS, True,
                     id="min-participants-equal"),
        pytest.param(RuleConditions(min_participants=3), BASE, NO_MATCH, OWN_DOMAINS, False,
                     id="min-participants-below"),
        pytest.param(RuleConditions(max_participants=2), BASE, NO_MATCH, OWN_DOMAINS, True,
                     id="max-participants-equal"),
        pytest.param(RuleConditions(max_participants=1), BASE, NO_MATCH, OWN_DOMAINS, False,
                     id="max-participants-above"),
        pytest.param(RuleConditions(min_participants=2, max_participants=2), BASE, NO_MATCH,
                     OWN_DOMAINS, True, id="participants-exactly"),
        pytest.param(RuleConditions(min_participants=0),
                     traits_with(participants=0, domains=frozenset()), NO_MATCH, OWN_DOMAINS,
                     True, id="min-participants-zero"),
        # every set condition must hold
        pytest.param(RuleConditions(channels=frozenset({Channel.EMAIL}), match=RuleMatch.CONTACT,
                                    domains_in=frozenset({"acme.com"}), group=False),
                     BASE, CONTACT_AT, OWN_DOMAINS, True, id="all-hold"),
        pytest.param(RuleConditions(channels=frozenset({Channel.EMAIL}), match=RuleMatch.CONTACT,
                                    domains_in=frozenset({"acme.com"}), group=True),
                     BASE, CONTACT_AT, OWN_DOMAINS, False, id="one-fails"),
    ],
)  # fmt: skip
def test_a_condition_holds(
    conditions: RuleConditions,
    facts: ConversationTraits,
    matched: MatchedKinds,
    own_domains: frozenset[str],
    expected: bool,
) -> None:
    assert conditions.hold_for(facts, matched, own_domains) is expected


@settings(max_examples=200, deadline=None)
@given(
    facts=traits,
    matched=st.dictionaries(st.sampled_from(CandidateKind), CONFIDENCES),
    own_domains=domain_sets,
)
def test_unset_conditions_always_hold(
    facts: ConversationTraits, matched: MatchedKinds, own_domains: frozenset[str]
) -> None:
    assert RuleConditions().hold_for(facts, matched, own_domains)
    # A confidence alone, without a kind of match to apply to, asks nothing.
    assert RuleConditions(min_confidence=1.0).hold_for(facts, matched, own_domains)
    rule = StorageRule("1", "anything", SUGGEST)
    assert first_holding((rule,), facts, matched, own_domains) is rule


@pytest.mark.parametrize(
    ("host", "domains", "expected"),
    [
        pytest.param("acme.com", {"acme.com"}, True, id="itself"),
        pytest.param("eu.acme.com", {"acme.com"}, True, id="subdomain"),
        pytest.param("a.b.eu.acme.com", {"acme.com"}, True, id="deep-subdomain"),
        pytest.param("notacme.com", {"acme.com"}, False, id="lookalike"),
        pytest.param("acme.com", {"eu.acme.com"}, False, id="parent"),
        pytest.param("acme.com.evil.io", {"acme.com"}, False, id="prefix"),
        pytest.param("acme.com", set(), False, id="no-domains"),
    ],
)
def test_host_in(host: str, domains: set[str], expected: bool) -> None:
    assert host_in(host, domains) is expected


# First match wins ----------------------------------------------------------------------------


def email_id(value: str) -> Identifier:
    return Identifier(IdentifierKind.EMAIL, value)


JANE = Candidate(CONTACT, 1, "Jane Doe", MatchMethod.EMAIL, 0.95)
JANE_MATCH = Match(email_id("jane@acme.com"), contacts=(JANE,))
STRANGER = Match(email_id("who@else.com"))
OPEN = NeverStoreList()


def decide(
    own_rules: tuple[StorageRule, ...],
    matches: tuple[Match, ...],
    *,
    links: tuple[LinkState, ...] = (),
    manually_stored: bool = False,
    never_store: NeverStoreList = OPEN,
    facts: ConversationTraits = BASE,
) -> StorageDecision:
    return decide_storage(
        StorageFacts(facts, matches, links, manually_stored=manually_stored),
        StorageRules({}, never_store, rules=own_rules, own_domains=OWN_DOMAINS),
    )


EMAIL_ONLY = RuleConditions(channels=frozenset({Channel.EMAIL}))
KEEP_OUT = StorageRule("1", "No email", NEVER, EMAIL_ONLY)
KEEP_ALL = StorageRule("2", "Every email", STORE, EMAIL_ONLY)
KEEP_UNMATCHED = StorageRule("3", "Unmatched email", STORE, RuleConditions(match=RuleMatch.NONE))
ASK_UNMATCHED = StorageRule("4", "Ask for unmatched", SUGGEST, RuleConditions(match=RuleMatch.NONE))


def test_the_first_of_two_holding_rules_decides() -> None:
    assert decide((KEEP_OUT, KEEP_ALL), (STRANGER,)) == StorageDecision(
        False, StorageReason.NONE, False, KEEP_OUT
    )
    assert decide((KEEP_ALL, KEEP_OUT), (STRANGER,)) == StorageDecision(
        True, StorageReason.RULE, True, KEEP_ALL
    )
    assert first_holding((KEEP_OUT, KEEP_ALL), BASE, {}, OWN_DOMAINS) is KEEP_OUT
    assert first_holding((KEEP_ALL, KEEP_OUT), BASE, {}, OWN_DOMAINS) is KEEP_ALL


def test_a_rule_that_does_not_hold_is_passed_over() -> None:
    chats = StorageRule("5", "No chats", NEVER, RuleConditions(channels=frozenset({Channel.SLACK})))
    decision = decide((chats,), (JANE_MATCH,))
    assert decision == StorageDecision(
        True, StorageReason.CONTACT_MATCH, True, policy_rule(Channel.EMAIL, StoragePolicy.AUTO)
    )


def test_a_never_rule_before_the_channel_policy_keeps_a_match_unstored() -> None:
    assert decide((), (JANE_MATCH,)).should_store  # the email policy alone would store it
    assert decide((KEEP_OUT,), (JANE_MATCH,)) == StorageDecision(
        False, StorageReason.NONE, False, KEEP_OUT
    )


def test_a_store_rule_for_unmatched_conversations_stores_them() -> None:
    assert decide((), (STRANGER,)) == StorageDecision(False, StorageReason.NONE, False, None)
    assert decide((KEEP_UNMATCHED,), (STRANGER,)) == StorageDecision(
        True, StorageReason.RULE, True, KEEP_UNMATCHED
    )


def test_a_store_rule_on_a_match_reports_the_match() -> None:
    assert decide((KEEP_ALL,), (JANE_MATCH,)) == StorageDecision(
        True, StorageReason.CONTACT_MATCH, True, KEEP_ALL
    )


def test_a_suggest_rule_stores_without_auto_storing() -> None:
    assert decide((ASK_UNMATCHED,), (STRANGER,)) == StorageDecision(
        True, StorageReason.RULE, False, ASK_UNMATCHED
    )
    ask_all = StorageRule("6", "Ask for email", SUGGEST, EMAIL_ONLY)
    assert decide((ask_all,), (JANE_MATCH,)) == StorageDecision(
        True, StorageReason.CONTACT_MATCH, False, ask_all
    )


@pytest.mark.parametrize(
    ("links", "manually_stored", "reason"),
    [
        pytest.param((LinkState(CONTACT, 1, USER),), False, StorageReason.MANUAL_LINK,
                     id="user-link"),
        pytest.param((), True, StorageReason.MANUAL_STORE, id="manual-store"),
        pytest.param((LinkState(COMPANY, 3, USER),), True, StorageReason.MANUAL_LINK,
                     id="link-reported-before-store"),
    ],
)  # fmt: skip
def test_a_user_still_wins_over_a_never_rule(
    links: tuple[LinkState, ...], manually_stored: bool, reason: StorageReason
) -> None:
    decision = decide((KEEP_OUT,), (JANE_MATCH,), links=links, manually_stored=manually_stored)
    assert decision == StorageDecision(True, reason, False, KEEP_OUT)


def test_a_user_link_under_a_store_rule_is_also_auto_stored() -> None:
    links = (LinkState(CONTACT, 1, USER),)
    assert decide((KEEP_UNMATCHED,), (STRANGER,), links=links) == StorageDecision(
        True, StorageReason.MANUAL_LINK, True, KEEP_UNMATCHED
    )


def test_a_user_unlinked_contact_is_no_match_for_a_rule() -> None:
    tombstone = (LinkState(CONTACT, 1, USER, removed=True),)
    assert decide((KEEP_UNMATCHED,), (JANE_MATCH,), links=tombstone) == StorageDecision(
        True, StorageReason.RULE, True, KEEP_UNMATCHED
    )


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        pytest.param(KEEP_ALL, (JANE_MATCH,), id="store-on-match"),
        pytest.param(KEEP_UNMATCHED, (Match(email_id("hr@else.com")),), id="store-unmatched"),
        pytest.param(ASK_UNMATCHED, (Match(email_id("hr@else.com")),), id="suggest-unmatched"),
    ],
)
def test_the_never_store_list_still_blocks_over_a_rule(
    rule: StorageRule, matches: tuple[Match, ...]
) -> None:
    never_store = NeverStoreList(domains=frozenset({"acme.com", "else.com"}))
    assert decide((rule,), matches).should_store
    assert decide((rule,), matches, never_store=never_store) == StorageDecision(
        False, StorageReason.BLOCKED, False, None
    )


def test_own_identities_are_no_match_for_a_rule() -> None:
    own = Match(email_id("me@acme.com"), contacts=(JANE,), is_own=True)
    assert decide((KEEP_UNMATCHED,), (own, STRANGER)) == StorageDecision(
        True, StorageReason.RULE, True, KEEP_UNMATCHED
    )


def test_a_rule_reads_the_best_confidence_of_a_kind() -> None:
    sure = StorageRule(
        "8", "Sure contacts", STORE, RuleConditions(match=RuleMatch.CONTACT, min_confidence=0.9)
    )
    weak = Candidate(CONTACT, 2, "Maybe Jane", MatchMethod.EMAIL, 0.5)
    whatsapp = traits_with(channel=Channel.WHATSAPP, domains=frozenset())
    weak_only = (Match(email_id("bob@else.com"), contacts=(weak,)),)
    # Below the rule's confidence: the WhatsApp policy (suggest) decides instead.
    assert decide((sure,), weak_only, facts=whatsapp) == StorageDecision(
        True,
        StorageReason.CONTACT_MATCH,
        False,
        policy_rule(Channel.WHATSAPP, StoragePolicy.MANUAL),
    )
    assert decide((sure,), (*weak_only, JANE_MATCH), facts=whatsapp) == StorageDecision(
        True, StorageReason.CONTACT_MATCH, True, sure
    )
    # A matcher's link stands at full confidence.
    matcher_link = (LinkState(CONTACT, 2, MATCHER),)
    assert decide((sure,), weak_only, links=matcher_link, facts=whatsapp).rule == sure


# JSON ----------------------------------------------------------------------------------------


def optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


texts = st.text(max_size=8)
counts = st.integers(min_value=0, max_value=10_000)
conditions = st.builds(
    RuleConditions,
    channels=optional(st.frozensets(st.sampled_from(Channel))),
    account_ids=optional(st.frozensets(st.integers(min_value=1, max_value=10**9), max_size=4)),
    match=optional(st.sampled_from(RuleMatch)),
    min_confidence=optional(st.floats(min_value=0.0, max_value=1.0)),
    domains_in=optional(st.frozensets(st.sampled_from(DOMAINS))),
    domains_not_in=optional(st.frozensets(st.sampled_from(DOMAINS))),
    internal_only=optional(st.booleans()),
    group=optional(st.booleans()),
    folders=optional(st.frozensets(texts, max_size=3)),
    min_participants=optional(counts),
    max_participants=optional(counts),
)
limits = st.builds(
    RuleLimits,
    days_back=optional(counts),
    messages_per_conversation=optional(counts),
    retention_days=optional(counts),
)
storage_rules = st.builds(
    StorageRule,
    id=st.integers(min_value=1, max_value=10**9).map(str),
    name=texts,
    action=st.sampled_from(StorageAction),
    conditions=conditions,
    limits=limits,
)


@settings(max_examples=300, deadline=None)
@given(rule=storage_rules)
def test_a_rule_survives_its_json(rule: StorageRule) -> None:
    data = rule_to_json(rule)
    assert rule_from_json(rule.id, data) == rule
    # As it is kept: through a JSON text, beside the position the row adds.
    stored = json.loads(json.dumps({**data, "position": 3}))
    assert rule_from_json(rule.id, stored) == rule


def test_a_rule_is_kept_in_the_names_the_api_uses() -> None:
    rule = StorageRule(
        "9",
        "Partners",
        SUGGEST,
        RuleConditions(
            channels=frozenset({Channel.WHATSAPP, Channel.EMAIL}),
            match=RuleMatch.NONE,
            domains_in=frozenset({"globex.com", "acme.com"}),
            internal_only=False,
        ),
        RuleLimits(retention_days=30),
    )
    assert json.loads(json.dumps(rule_to_json(rule))) == {
        "name": "Partners",
        "action": "SUGGEST",
        "conditions": {
            "channels": ["EMAIL", "WHATSAPP"],
            "match": "NONE",
            "domains_in": ["acme.com", "globex.com"],
            "internal_only": False,
        },
        "limits": {"retention_days": 30},
    }
    assert rule_from_json("9", {"name": "Bare", "action": "NEVER"}) == StorageRule(
        "9", "Bare", NEVER
    )

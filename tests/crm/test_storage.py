"""The storage decision: pure, over matches, links, tombstones, policy and the never-store list,
with no rules of the workspace's own (`tests/crm/test_rules.py` has the rules')."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.vocabulary import (
    Channel,
    IdentifierKind,
    LinkSource,
    MatchMethod,
    NeverStoreKind,
    StoragePolicy,
    StorageReason,
)
from crm import (
    Candidate,
    CandidateKind,
    ConversationTraits,
    Identifier,
    LinkState,
    Match,
    NeverStoreList,
    Rejected,
    StorageDecision,
    StorageFacts,
    StorageRules,
    SyncLimits,
    decide_storage,
    default_policy,
    load_storage_rules,
    normalize_never_store_value,
    sync_limits,
)
from db.metrics import count_queries
from db.models import ConversationLink, NeverStoreEntry, StoragePolicySetting, Workspace
from tests.crm.conftest import recorded_statements

AUTO, MANUAL, NEVER = StoragePolicy.AUTO, StoragePolicy.MANUAL, StoragePolicy.NEVER
CONTACT, COMPANY = CandidateKind.CONTACT, CandidateKind.COMPANY
USER, MATCHER = LinkSource.USER, LinkSource.MATCHER


def email(value: str) -> Identifier:
    return Identifier(IdentifierKind.EMAIL, value)


JANE = Candidate(CONTACT, 1, "Jane Doe", MatchMethod.EMAIL, 0.95)
ACME = Candidate(COMPANY, 10, "Acme", MatchMethod.DOMAIN, 0.80)
CONTACT_MATCH = Match(email("jane+x@acme.com"), contacts=(JANE,))
COMPANY_MATCH = Match(email("new@eu.acme.com"), companies=(ACME,))
PHONE_MATCH = Match(Identifier(IdentifierKind.PHONE, "+33612345678"), contacts=(JANE,))
ID_MATCH = Match(Identifier(IdentifierKind.PROVIDER_ID, "ACoAAB"), contacts=(JANE,))
GLOBEX_MATCH = Match(email("bob@globex.com"), contacts=(JANE,))
NO_MATCH = Match(email("who@else.com"))
OWN = Match(email("me@acme.com"), contacts=(JANE,), companies=(ACME,), is_own=True)

EMAIL_THREAD = ConversationTraits(
    channel=Channel.EMAIL,
    account_id=1,
    domains=frozenset({"acme.com"}),
    participants=1,
    has_non_email_participant=False,
    is_group=False,
    folders=frozenset({"INBOX"}),
)


def decide(
    matches: Sequence[Match],
    links: Sequence[LinkState],
    policy: StoragePolicy,
    never_store: NeverStoreList,
    *,
    manually_stored: bool = False,
) -> StorageDecision:
    """The decision on an email thread with `policy` for email and no rules of the
    workspace's own; the rule that held, when one did, is email's channel policy."""
    rules = StorageRules(policies={Channel.EMAIL: policy}, never_store=never_store)
    facts = StorageFacts(EMAIL_THREAD, tuple(matches), tuple(links), manually_stored)
    decision = decide_storage(facts, rules)
    assert decision.rule in (None, rules.rule("policy-email"))
    return decision


USER_LINK = LinkState(CONTACT, 1, USER)
USER_TOMBSTONE = LinkState(CONTACT, 1, USER, removed=True)
MATCHER_LINK = LinkState(CONTACT, 1, MATCHER)
MATCHER_TOMBSTONE = LinkState(CONTACT, 1, MATCHER, removed=True)
COMPANY_TOMBSTONE = LinkState(COMPANY, 10, USER, removed=True)

OPEN = NeverStoreList()
BLOCK_JANE = NeverStoreList(emails=frozenset({"jane@acme.com"}))
BLOCK_ACME = NeverStoreList(domains=frozenset({"acme.com"}))
BLOCK_PHONE = NeverStoreList(phones=frozenset({"+33612345678"}))
BLOCK_ID = NeverStoreList(emails=frozenset({"ACoAAB"}), domains=frozenset({"ACoAAB"}))


def stored(reason: StorageReason, auto_store: bool = False) -> StorageDecision:
    return StorageDecision(should_store=True, reason=reason, auto_store=auto_store)


def not_stored(reason: StorageReason = StorageReason.NONE) -> StorageDecision:
    return StorageDecision(should_store=False, reason=reason, auto_store=False)


@pytest.mark.parametrize(
    ("policy", "matches", "links", "never_store", "manually_stored", "expected"),
    [
        # Policies and match kinds
        pytest.param(
            AUTO, [CONTACT_MATCH], [], OPEN, False,
            stored(StorageReason.CONTACT_MATCH, auto_store=True), id="auto-contact",
        ),
        pytest.param(
            MANUAL, [CONTACT_MATCH], [], OPEN, False,
            stored(StorageReason.CONTACT_MATCH), id="manual-contact",
        ),
        pytest.param(NEVER, [CONTACT_MATCH], [], OPEN, False, not_stored(), id="never-contact"),
        pytest.param(
            AUTO, [COMPANY_MATCH], [], OPEN, False,
            stored(StorageReason.COMPANY_MATCH, auto_store=True), id="auto-company",
        ),
        pytest.param(
            MANUAL, [COMPANY_MATCH], [], OPEN, False,
            stored(StorageReason.COMPANY_MATCH), id="manual-company",
        ),
        pytest.param(NEVER, [COMPANY_MATCH], [], OPEN, False, not_stored(), id="never-company"),
        pytest.param(
            AUTO, [COMPANY_MATCH, CONTACT_MATCH], [], OPEN, False,
            stored(StorageReason.CONTACT_MATCH, auto_store=True), id="contact-before-company",
        ),
        pytest.param(
            MANUAL, [PHONE_MATCH], [], OPEN, False,
            stored(StorageReason.CONTACT_MATCH), id="manual-phone",
        ),
        pytest.param(AUTO, [NO_MATCH], [], OPEN, False, not_stored(), id="auto-no-match"),
        pytest.param(AUTO, [], [], OPEN, False, not_stored(), id="no-participants"),
        pytest.param(AUTO, [OWN], [], OPEN, False, not_stored(), id="own-identity-never-matches"),
        # Links and tombstones
        pytest.param(
            AUTO, [NO_MATCH], [USER_LINK], OPEN, False,
            stored(StorageReason.MANUAL_LINK), id="user-link",
        ),
        pytest.param(
            NEVER, [NO_MATCH], [USER_LINK], OPEN, False,
            stored(StorageReason.MANUAL_LINK), id="user-link-beats-never-policy",
        ),
        pytest.param(
            AUTO, [CONTACT_MATCH], [USER_LINK], OPEN, False,
            stored(StorageReason.MANUAL_LINK, auto_store=True), id="user-link-and-match",
        ),
        pytest.param(
            AUTO, [NO_MATCH], [USER_TOMBSTONE], OPEN, False, not_stored(), id="tombstone-no-link",
        ),
        pytest.param(
            AUTO, [CONTACT_MATCH], [USER_TOMBSTONE], OPEN, False, not_stored(),
            id="tombstone-hides-its-contact",
        ),
        pytest.param(
            AUTO, [CONTACT_MATCH, COMPANY_MATCH], [USER_TOMBSTONE], OPEN, False,
            stored(StorageReason.COMPANY_MATCH, auto_store=True), id="tombstone-leaves-company",
        ),
        pytest.param(
            MANUAL, [COMPANY_MATCH], [COMPANY_TOMBSTONE], OPEN, False, not_stored(),
            id="tombstone-hides-its-company",
        ),
        pytest.param(
            AUTO, [NO_MATCH], [MATCHER_LINK], OPEN, False,
            stored(StorageReason.CONTACT_MATCH, auto_store=True), id="matcher-link-is-a-match",
        ),
        pytest.param(
            MANUAL, [NO_MATCH], [MATCHER_LINK], OPEN, False,
            stored(StorageReason.CONTACT_MATCH), id="matcher-link-manual-policy",
        ),
        pytest.param(
            AUTO, [CONTACT_MATCH], [MATCHER_TOMBSTONE], OPEN, False, not_stored(),
            id="matcher-tombstone",
        ),
        # Manual store
        pytest.param(
            AUTO, [NO_MATCH], [], OPEN, True, stored(StorageReason.MANUAL_STORE), id="manual-store",
        ),
        pytest.param(
            NEVER, [NO_MATCH], [], OPEN, True,
            stored(StorageReason.MANUAL_STORE), id="manual-store-beats-never-policy",
        ),
        pytest.param(
            AUTO, [NO_MATCH], [USER_LINK], OPEN, True,
            stored(StorageReason.MANUAL_LINK), id="link-reported-before-store",
        ),
        # Never-store list
        pytest.param(
            AUTO, [CONTACT_MATCH], [], BLOCK_JANE, False, not_stored(StorageReason.BLOCKED),
            id="blocked-address-untagged",
        ),
        pytest.param(
            MANUAL, [CONTACT_MATCH], [], BLOCK_ACME, False, not_stored(StorageReason.BLOCKED),
            id="blocked-domain",
        ),
        pytest.param(
            AUTO, [COMPANY_MATCH], [], BLOCK_ACME, False, not_stored(StorageReason.BLOCKED),
            id="blocked-domain-covers-subdomain",
        ),
        pytest.param(
            AUTO, [PHONE_MATCH], [], BLOCK_PHONE, False, not_stored(StorageReason.BLOCKED),
            id="blocked-phone",
        ),
        pytest.param(
            AUTO, [GLOBEX_MATCH, CONTACT_MATCH], [], BLOCK_JANE, False,
            not_stored(StorageReason.BLOCKED), id="any-blocked-participant-blocks",
        ),
        pytest.param(
            AUTO, [NO_MATCH, COMPANY_MATCH], [], BLOCK_ACME, False,
            not_stored(StorageReason.BLOCKED), id="blocked-without-contact-match",
        ),
        pytest.param(
            NEVER, [CONTACT_MATCH], [], BLOCK_JANE, False, not_stored(StorageReason.BLOCKED),
            id="blocked-under-never-policy",
        ),
        pytest.param(
            AUTO, [CONTACT_MATCH], [USER_LINK], BLOCK_JANE, False,
            stored(StorageReason.MANUAL_LINK), id="user-link-beats-never-store",
        ),
        pytest.param(
            AUTO, [CONTACT_MATCH], [], BLOCK_JANE, True,
            stored(StorageReason.MANUAL_STORE), id="manual-store-beats-never-store",
        ),
        pytest.param(
            AUTO, [OWN, GLOBEX_MATCH], [], BLOCK_ACME, False,
            stored(StorageReason.CONTACT_MATCH, auto_store=True), id="own-identity-never-blocks",
        ),
        pytest.param(
            AUTO, [ID_MATCH], [], BLOCK_ID, False,
            stored(StorageReason.CONTACT_MATCH, auto_store=True), id="provider-ids-not-blockable",
        ),
    ],
)  # fmt: skip
def test_storage_decision(
    policy: StoragePolicy,
    matches: list[Match],
    links: list[LinkState],
    never_store: NeverStoreList,
    manually_stored: bool,
    expected: StorageDecision,
) -> None:
    decision = decide(matches, links, policy, never_store, manually_stored=manually_stored)
    assert replace(decision, rule=None) == expected


MATCH_KINDS = {"none": [NO_MATCH], "contact": [CONTACT_MATCH], "company": [COMPANY_MATCH]}
LINKS = {
    "no-link": [],
    "user-link": [USER_LINK],
    "user-tombstone": [USER_TOMBSTONE],
    "matcher-link": [MATCHER_LINK],
    "matcher-tombstone": [MATCHER_TOMBSTONE],
}
BLOCKING = {"open": OPEN, "blocked": NeverStoreList(domains=frozenset({"acme.com", "else.com"}))}


@pytest.mark.parametrize(
    ("policy", "match_kind", "link", "blocking", "manually_stored"),
    list(itertools.product(StoragePolicy, MATCH_KINDS, LINKS, BLOCKING, [False, True])),
    ids=lambda value: str(value).lower(),
)
def test_storage_decision_rules_hold_in_every_combination(
    policy: StoragePolicy, match_kind: str, link: str, blocking: str, manually_stored: bool
) -> None:
    decision = decide(
        MATCH_KINDS[match_kind], LINKS[link], policy, BLOCKING[blocking],
        manually_stored=manually_stored,
    )  # fmt: skip
    by_user = link == "user-link" or manually_stored
    manual_reasons = {StorageReason.MANUAL_LINK, StorageReason.MANUAL_STORE}
    assert decision.should_store == (
        decision.reason not in {StorageReason.NONE, StorageReason.BLOCKED}
    )
    assert by_user == (decision.reason in manual_reasons)
    if blocking == "blocked" and not by_user:
        assert decision.reason is StorageReason.BLOCKED
    if decision.auto_store:
        assert policy is AUTO and blocking == "open"
    if policy is not AUTO or (match_kind == "none" and link != "matcher-link"):
        assert not decision.auto_store


# Rules loaded from the database ---------------------------------------------------------------


async def _add_never_store(workspace: Workspace, kind: NeverStoreKind, raw: str) -> None:
    value = normalize_never_store_value(kind, raw, region=workspace.default_region)
    assert not isinstance(value, Rejected), raw
    await NeverStoreEntry.create(workspace=workspace, kind=kind, value=value)


async def test_storage_rules_load_in_two_reads(database: str) -> None:
    workspace = await Workspace.create(name="W", slug="w", default_region="FR")
    other = await Workspace.create(name="O", slug="o")
    await StoragePolicySetting.create(
        workspace=workspace, channel=Channel.WHATSAPP, policy=StoragePolicy.AUTO
    )
    await StoragePolicySetting.create(
        workspace=workspace, channel=Channel.EMAIL, policy=StoragePolicy.NEVER
    )
    await StoragePolicySetting.create(
        workspace=other, channel=Channel.LINKEDIN, policy=StoragePolicy.NEVER
    )
    await _add_never_store(workspace, NeverStoreKind.EMAIL, "HR@Acme.com")
    await _add_never_store(workspace, NeverStoreKind.PHONE, "06 12 34 56 78")
    await _add_never_store(workspace, NeverStoreKind.DOMAIN, "Lawyers.example")
    await _add_never_store(other, NeverStoreKind.DOMAIN, "other.example")

    with recorded_statements() as statements:
        rules = await load_storage_rules(workspace)
    assert len(statements) == 1
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements

    assert {channel: rules.policy_for(channel) for channel in Channel} == {
        **{channel: StoragePolicy.MANUAL for channel in Channel},
        Channel.EMAIL: StoragePolicy.NEVER,
        Channel.WHATSAPP: StoragePolicy.AUTO,
    }
    blocked = rules.never_store.blocks
    assert blocked(email("hr+jobs@acme.com"))
    assert blocked(Identifier(IdentifierKind.PHONE, "+33612345678"))
    assert blocked(email("partner@eu.lawyers.example"))
    assert not blocked(email("someone@other.example"))
    assert not blocked(email("jane@acme.com"))


async def test_a_workspace_without_rules_uses_the_defaults(sqlite_database: str) -> None:
    workspace = await Workspace.create(name="W", slug="w")
    with count_queries() as queries:
        rules = await load_storage_rules(workspace.id)
    assert queries.value == 1
    assert rules.never_store == NeverStoreList()
    assert rules.policy_for(Channel.EMAIL) is StoragePolicy.AUTO
    assert rules.policy_for(Channel.WHATSAPP) is StoragePolicy.MANUAL


@pytest.mark.parametrize(
    ("channel", "policy"),
    [
        pytest.param(Channel.EMAIL, StoragePolicy.AUTO, id="email"),
        *(
            pytest.param(channel, StoragePolicy.MANUAL, id=channel.value.lower())
            for channel in Channel
            if not channel.is_email
        ),
    ],
)
def test_default_policies(channel: Channel, policy: StoragePolicy) -> None:
    assert default_policy(channel) is policy


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"contact_id": 3, "source": LinkSource.USER, "created_by_id": 1},
            LinkState(CONTACT, 3, USER),
            id="contact-link",
        ),
        pytest.param(
            {
                "company_id": 4,
                "source": LinkSource.MATCHER,
                "rule": MatchMethod.DOMAIN,
                "removed_at": datetime(2026, 1, 1, tzinfo=UTC),
            },
            LinkState(COMPANY, 4, MATCHER, removed=True),
            id="company-tombstone",
        ),
    ],
)
async def test_link_states_are_read_from_links(
    sqlite_database: str, fields: dict[str, object], expected: LinkState
) -> None:
    assert LinkState.of(ConversationLink(**fields)) == expected


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        pytest.param(Channel.EMAIL, SyncLimits(100, 50, 30), id="email"),
        *(
            pytest.param(channel, SyncLimits(50, 100, 30), id=channel.value.lower())
            for channel in Channel
            if not channel.is_email
        ),
    ],
)
def test_sync_limits(channel: Channel, expected: SyncLimits) -> None:
    assert sync_limits(channel) == expected

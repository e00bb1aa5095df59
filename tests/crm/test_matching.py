"""Matching participants against contacts and companies, in a constant number of reads."""

from __future__ import annotations

import itertools

import pytest

from core.vocabulary import IdentifierKind, MatchMethod
from crm import (
    CONFIDENCE,
    Candidate,
    CandidateKind,
    Identifier,
    Match,
    Rejected,
    classify_participant,
    resolve,
    resolve_conversations,
)
from db.metrics import count_queries
from db.models import Company, CompanyDomain, Contact, ContactIdentifier, Workspace
from tests.crm.conftest import Crm, recorded_statements

DOMAIN, CONTACT_COMPANY = MatchMethod.DOMAIN, MatchMethod.CONTACT_COMPANY


def participant(raw: str, identifier_type: str | None = None, region: str = "FR") -> Identifier:
    identifier = classify_participant(raw, identifier_type, region=region)
    assert not isinstance(identifier, Rejected), identifier
    return identifier


@pytest.mark.parametrize(
    ("raw", "region", "contacts", "companies"),
    [
        pytest.param(
            "jane.doe@acme-corp.com", "FR", ["Jane Doe"], [("Acme", CONTACT_COMPANY)], id="exact"
        ),
        pytest.param(
            "Jane.Doe+invoices@Acme-Corp.com",
            "FR",
            ["Jane Doe"],
            [("Acme", CONTACT_COMPANY)],
            id="mixed-case-and-tag",
        ),
        pytest.param(
            "jane+billing@acme-corp.com",
            "FR",
            ["Jane Billing"],
            [("Acme", CONTACT_COMPANY)],
            id="exact-tag-beats-untagged",
        ),
        pytest.param(
            "jane+other@acme-corp.com",
            "FR",
            ["Jane Plain"],
            [("Globex", CONTACT_COMPANY), ("Acme", DOMAIN)],
            id="untagged-fallback",
        ),
        pytest.param("newbie@acme-corp.com", "FR", [], [("Acme", DOMAIN)], id="company-domain"),
        pytest.param(
            "someone@eu.mail.globex.co.uk", "FR", [], [("Globex", DOMAIN)], id="subdomain"
        ),
        pytest.param("gary@gmail.com", "FR", ["Gary Gmail"], [], id="personal-domain-contact"),
        pytest.param("nobody@gmail.com", "FR", [], [], id="personal-domain-unknown"),
        pytest.param(
            "33612345678@s.whatsapp.net",
            "FR",
            ["Fred Français"],
            [("Initech", CONTACT_COMPANY)],
            id="jid-matches-national",
        ),
        pytest.param(
            "33612345678:7@s.whatsapp.net",
            "US",
            ["Fred Français"],
            [("Initech", CONTACT_COMPANY)],
            id="jid-device-suffix",
        ),
        pytest.param(
            "07911 123456",
            "GB",
            ["Brenda British"],
            [("Globex", CONTACT_COMPANY)],
            id="national-matches-international",
        ),
        pytest.param(
            "Team@Globex.co.uk",
            "FR",
            ["Tom Twin", "Tim Twin"],
            [("Acme", CONTACT_COMPANY), ("Globex", CONTACT_COMPANY)],
            id="shared-email",
        ),
        pytest.param(
            "+33 6 98 76 54 32",
            "FR",
            ["Tom Twin", "Tim Twin"],
            [("Acme", CONTACT_COMPANY), ("Globex", CONTACT_COMPANY)],
            id="shared-phone",
        ),
        pytest.param("Anna@BÜCHER.de", "FR", ["Anna Umlaut"], [], id="unicode-domain"),
        pytest.param("anna@xn--bcher-kva.de", "FR", ["Anna Umlaut"], [], id="punycode-domain"),
        pytest.param("+33 6 00 00 00 01", "FR", [], [], id="unknown-phone"),
        pytest.param("stranger@unknown-corp.com", "FR", [], [], id="unknown-email"),
    ],
)
async def test_identifiers_match_contacts_and_companies(
    crm_records: Crm,
    raw: str,
    region: str,
    contacts: list[str],
    companies: list[tuple[str, MatchMethod]],
) -> None:
    identifier = participant(raw, region=region)
    match = (await resolve(crm_records.workspace, [identifier]))[identifier]
    assert [c.name for c in match.contacts] == contacts
    assert [(c.name, c.method) for c in match.companies] == companies
    assert match.ambiguous_contact == (len(contacts) > 1)
    assert match.ambiguous_company == (len(companies) > 1)
    assert (match.primary_contact is not None) == (len(contacts) == 1)
    assert (match.primary_company is not None) == (len(companies) == 1)


@pytest.mark.parametrize(
    ("raw", "identifier_type", "method"),
    [
        pytest.param("jane.doe@acme-corp.com", "EMAIL_ADDRESS", MatchMethod.EMAIL, id="email"),
        pytest.param("+33612345678", "PHONE_NUMBER", MatchMethod.PHONE, id="phone"),
        pytest.param("ACoAABxyz", "LINKEDIN_ID", MatchMethod.PROVIDER_ID, id="provider-id"),
    ],
)
async def test_candidates_carry_their_method_and_confidence(
    crm_records: Crm, raw: str, identifier_type: str, method: MatchMethod
) -> None:
    identifier = participant(raw, identifier_type)
    match = (await resolve(crm_records.workspace.id, [identifier]))[identifier]
    assert match.primary_contact is not None
    assert match.primary_contact.kind is CandidateKind.CONTACT
    assert (match.primary_contact.method, match.primary_contact.confidence) == (
        method,
        CONFIDENCE[method],
    )


def test_the_confidence_table_is_the_original_scale() -> None:
    assert dict(CONFIDENCE) == {
        MatchMethod.EMAIL: 0.95,
        MatchMethod.PHONE: 0.90,
        MatchMethod.PROVIDER_ID: 0.85,
        MatchMethod.DOMAIN: 0.80,
        MatchMethod.MANUAL: 1.0,
    }


async def test_a_contacts_company_takes_the_contacts_confidence(crm_records: Crm) -> None:
    identifier = participant("06 12 34 56 78")
    match = (await resolve(crm_records.workspace, [identifier]))[identifier]
    assert match.primary_company == Candidate(
        CandidateKind.COMPANY, crm_records.initech.id, "Initech", CONTACT_COMPANY, 0.90
    )


async def test_a_company_found_twice_is_one_candidate_by_its_surest_method(
    crm_records: Crm,
) -> None:
    identifier = participant("jane.doe@acme-corp.com")
    match = (await resolve(crm_records.workspace, [identifier]))[identifier]
    assert match.companies == (
        Candidate(CandidateKind.COMPANY, crm_records.acme.id, "Acme", CONTACT_COMPANY, 0.95),
    )


async def test_provider_ids_match_case_sensitively(crm_records: Crm) -> None:
    lowered = participant("acoaabxyz", "LINKEDIN_ID")
    assert (await resolve(crm_records.workspace, [lowered]))[lowered] == Match(lowered)


async def test_other_workspaces_records_never_match(crm_records: Crm) -> None:
    other = await Workspace.get(slug="other")
    identifier = participant("jane.doe@acme-corp.com")
    match = (await resolve(other, [identifier]))[identifier]
    assert [c.name for c in match.contacts] == ["Elsewhere Jane"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("me@acme-corp.com", id="own-address"),
        pytest.param("Me+Newsletter@Acme-Corp.com", id="own-address-tagged"),
        pytest.param("33611111111@s.whatsapp.net", id="own-number-as-jid"),
    ],
)
async def test_the_accounts_own_identities_never_match(crm_records: Crm, raw: str) -> None:
    own = [participant("me@acme-corp.com"), participant("06 11 11 11 11")]
    identifier, other = participant(raw), participant("jane.doe@acme-corp.com")
    matches = await resolve(crm_records.workspace, [identifier, other], own_identifiers=own)
    assert matches[identifier] == Match(identifier, is_own=True)
    assert matches[other].primary_contact is not None


async def test_the_personal_domain_list_can_be_extended(crm_records: Crm) -> None:
    identifier = participant("newbie@acme-corp.com")
    matches = await resolve(
        crm_records.workspace, [identifier], personal_domains=frozenset({"acme-corp.com"})
    )
    assert matches[identifier] == Match(identifier)


async def test_nothing_to_resolve_reads_nothing(crm_records: Crm) -> None:
    with count_queries() as queries:
        assert await resolve(crm_records.workspace, []) == {}
    assert queries.value == 0


async def test_a_page_of_conversations_resolves_at_once(crm_records: Crm) -> None:
    jane, fred = participant("jane.doe@acme-corp.com"), participant("06 12 34 56 78")
    stranger = participant("stranger@unknown-corp.com")
    page = {"c1": [jane, fred, jane], "c2": [stranger], "c3": [fred, jane]}
    with count_queries() as queries:
        matches = await resolve_conversations(crm_records.workspace, page)
    assert queries.value == 1
    assert {key: [m.identifier for m in value] for key, value in matches.items()} == {
        "c1": [jane, fred],
        "c2": [stranger],
        "c3": [fred, jane],
    }
    assert matches["c1"][0] is matches["c3"][1]


async def test_resolving_only_reads(crm_records: Crm) -> None:
    identifiers = [participant("jane.doe@acme-corp.com"), participant("+33612345678")]
    with recorded_statements() as statements:
        await resolve(crm_records.workspace, identifiers, own_identifiers=identifiers[:1])
        await resolve(crm_records.workspace, identifiers)
    assert statements
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), statements


# Query count -------------------------------------------------------------------------------------

SEEDED = 500


async def _seed_many(workspace: Workspace) -> list[Identifier]:
    """`SEEDED` contacts, each with a company, an address at its domain, a number and an id;
    one identifier of each person, kinds taken in turn, addresses first."""
    await Company.bulk_create(
        [Company(workspace=workspace, name=f"Company {i}") for i in range(SEEDED)]
    )
    companies = dict(await Company.filter(workspace=workspace).values_list("name", "id"))
    await CompanyDomain.bulk_create(
        [
            CompanyDomain(
                workspace=workspace, company_id=companies[f"Company {i}"], domain=f"c{i}.com"
            )
            for i in range(SEEDED)
        ]
    )
    await Contact.bulk_create(
        [
            Contact(workspace=workspace, first_name=f"P{i}", company_id=companies[f"Company {i}"])
            for i in range(SEEDED)
        ]
    )
    contacts = dict(await Contact.filter(workspace=workspace).values_list("first_name", "id"))
    people = [
        (
            Identifier(IdentifierKind.EMAIL, f"p{i}@c{i}.com"),
            Identifier(IdentifierKind.PHONE, f"+336{i:08d}"),
            Identifier(IdentifierKind.PROVIDER_ID, f"ACoAA{i}"),
        )
        for i in range(SEEDED)
    ]
    await ContactIdentifier.bulk_create(
        [
            ContactIdentifier(
                workspace=workspace,
                contact_id=contacts[f"P{i}"],
                kind=identifier.kind,
                value=identifier.value,
                original=identifier.value,
            )
            for i, identifiers in enumerate(people)
            for identifier in identifiers
        ]
    )
    return [identifiers[i % 3] for i, identifiers in enumerate(people)]


async def test_resolving_takes_the_same_queries_for_1_50_and_500_identifiers(
    database: str,
) -> None:
    workspace = await Workspace.create(name="Big", slug="big", default_region="FR")
    identifiers = await _seed_many(workspace)
    counts = {}
    for size in (1, 50, SEEDED):
        batch = identifiers[:size]
        with count_queries() as queries:
            matches = await resolve(workspace, batch)
        counts[size] = queries.value
        assert all(matches[i].primary_contact is not None for i in batch)
        assert all(
            matches[i].primary_company is not None for i in itertools.islice(batch, 0, None, 3)
        )
    assert counts == {1: 1, 50: 1, SEEDED: 1}

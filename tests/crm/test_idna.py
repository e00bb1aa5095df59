"""Internationalised domains: IDNA 2008 with the UTS #46 mapping, one identifier per domain.

Python's own `idna` codec implements IDNA 2003, which maps `ß` to `ss` (`straße.de` would become
`strasse.de`, another domain) and cannot decode some valid A-labels; the normalisers use the
`idna` package instead, and an invalid domain is a `Rejected`, never an exception.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.vocabulary import IdentifierKind, NeverStoreKind
from crm import (
    Rejected,
    Rejection,
    classify_participant,
    normalize_company_domain,
    normalize_email,
    normalize_host,
    normalize_never_store_value,
    resolve,
)
from crm.normalize import unicode_host
from tests.crm.conftest import REGION, Crm, add_company, add_contact


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("info@xn--strae-oqa.de", "info@xn--strae-oqa.de", id="punycode"),
        pytest.param("info@straße.de", "info@xn--strae-oqa.de", id="sharp-s-kept"),
        pytest.param("Info@STRASSE.de", "info@strasse.de", id="ss-is-another-domain"),
        pytest.param("jane@\uff21\uff23\uff2d\uff25.com", "jane@acme.com", id="fullwidth-mapped"),
        pytest.param("jane@Bücher.DE", "jane@xn--bcher-kva.de", id="case-mapped"),
        pytest.param("jane@bu\u0308cher.de", "jane@xn--bcher-kva.de", id="decomposed-composed"),
        pytest.param("jane@xn--bcher-kva.XN--P1AI", "jane@xn--bcher-kva.xn--p1ai", id="ace-tld"),
    ],
)
def test_addresses_normalise_by_idna_2008(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("info@xn--zz.com", id="invalid-punycode"),
        pytest.param("info@xn--a.com", id="punycode-of-a-control-character"),
        pytest.param("info@xn--.com", id="empty-punycode"),
        pytest.param("info@fo\x00o.com", id="nul"),
        pytest.param("info@fo\ud800o.com", id="lone-surrogate"),
        pytest.param("info@" + "é" * 70 + ".com", id="label-too-long"),
        pytest.param("info@" + "é" * 5000 + ".com", id="huge"),
    ],
)
def test_invalid_domains_are_rejected_not_raised(raw: str) -> None:
    assert normalize_email(raw) == Rejected(Rejection.INVALID_EMAIL, raw)
    host = raw.partition("@")[2]
    assert normalize_host(host) == Rejected(Rejection.INVALID_DOMAIN, host)
    assert normalize_company_domain(host) == Rejected(Rejection.INVALID_DOMAIN, host)
    assert normalize_never_store_value(NeverStoreKind.DOMAIN, host, region=None) == Rejected(
        Rejection.INVALID_DOMAIN, host
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("xn--strae-oqa.de", "xn--strae-oqa.de", id="punycode"),
        pytest.param("https://www.straße.de/kontakt", "xn--strae-oqa.de", id="unicode-url"),
        pytest.param("shop.XN--STRAE-OQA.de", "xn--strae-oqa.de", id="upper-case-subdomain"),
    ],
)
def test_company_domains_normalise_by_idna_2008(raw: str, expected: str) -> None:
    assert normalize_company_domain(raw) == expected


def test_a_punycode_host_reads_back_in_unicode() -> None:
    assert unicode_host("xn--strae-oqa.de") == "straße.de"
    assert unicode_host("mail.xn--bcher-kva.de") == "mail.bücher.de"
    assert unicode_host("acme.com") == "acme.com"


def test_a_live_participant_with_an_invalid_domain_names_nobody() -> None:
    for identifier_type in ("EMAIL_ADDRESS", None):
        found = classify_participant("jane@xn--zz.com", identifier_type, region=REGION)
        assert found == Rejected(Rejection.INVALID_EMAIL, "jane@xn--zz.com")


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("AC\x00oAA", id="nul"),
        pytest.param("AC\udc00oAA", id="lone-surrogate"),
        pytest.param("AC\x1boAA", id="escape"),
    ],
)
def test_a_provider_id_a_column_cannot_keep_is_rejected(raw: str) -> None:
    found = classify_participant(raw, "LINKEDIN_ID", region=REGION)
    assert found == Rejected(Rejection.INVALID_PROVIDER_ID, raw)


LABEL = st.text(alphabet="abcdeäöüéèñçåøßπжя", min_size=1, max_size=12)


@given(labels=st.lists(LABEL, min_size=1, max_size=3), tld=st.sampled_from(["de", "fr", "com"]))
def test_a_domain_and_its_punycode_are_one_identifier(labels: list[str], tld: str) -> None:
    unicode_spelling = f"{'.'.join(labels)}.{tld}"
    host = normalize_host(unicode_spelling)
    if isinstance(host, Rejected):
        # IDNA 2008 refuses some labels outright (`ab--c`): then every spelling is refused.
        return
    assert normalize_host(host) == host
    assert normalize_host(unicode_host(host)) == host
    assert normalize_email(f"jane@{unicode_host(host)}") == normalize_email(f"jane@{host}")


async def test_participants_in_either_spelling_match_one_contact(crm_records: Crm) -> None:
    workspace = crm_records.workspace
    strasse = await add_company(workspace, "Straße", "www.straße.de")
    await add_contact(workspace, "Stefan Straße", strasse, email="stefan@xn--strae-oqa.de")
    await add_contact(workspace, "Sven Strasse", email="sven@strasse.de")
    spellings = [
        classify_participant(raw, "EMAIL_ADDRESS", region=REGION)
        for raw in ("Stefan@Straße.de", "stefan@xn--strae-oqa.de", "nobody@STRASSE.de")
    ]
    unicode, punycode, strasse_ss = spellings
    assert unicode == punycode and not isinstance(unicode, Rejected)
    assert not isinstance(strasse_ss, Rejected) and strasse_ss.kind is IdentifierKind.EMAIL
    matches = await resolve(workspace, [punycode, strasse_ss])
    assert [c.name for c in matches[punycode].contacts] == ["Stefan Straße"]
    assert [c.name for c in matches[punycode].companies] == ["Straße"]
    # `strasse.de` is another domain: neither the contact nor the company of `straße.de`.
    assert not any(c.name == "Stefan Straße" for c in matches[strasse_ss].contacts)
    assert not any(c.name == "Straße" for c in matches[strasse_ss].companies)

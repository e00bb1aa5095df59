"""Checking a contact's or company's fields as a client gives them: one set of rules for the
one-record mutations, the bulk upserts and `switchboard crm import`.

Each check returns the value as it is stored, or raises `BadUserInput` naming the field at fault,
before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from core.errors import BadUserInput
from core.vocabulary import IdentifierKind
from crm.normalize import Rejected, normalize_company_domain, normalize_contact_identifier

__all__ = [
    "EXTERNAL_ID_LENGTH",
    "IDENTIFIER_FIELDS",
    "MAX_LIST_LENGTH",
    "NAME_LENGTH",
    "ORIGINAL_LENGTH",
    "Normalised",
    "external_id",
    "name",
    "normalised_domains",
    "normalised_identifiers",
]

# The input list each kind of identifier comes in, which names the field of an error.
IDENTIFIER_FIELDS: Mapping[IdentifierKind, str] = MappingProxyType(
    {
        IdentifierKind.EMAIL: "emails",
        IdentifierKind.PHONE: "phones",
        IdentifierKind.PROVIDER_ID: "providerIds",
    }
)
# Bounds one record's re-matching query, whose size grows with the identifiers it looks for.
MAX_LIST_LENGTH = 50
NAME_LENGTH = 200  # Contact.first_name, Contact.last_name, Company.name
ORIGINAL_LENGTH = 320  # ContactIdentifier.original
EXTERNAL_ID_LENGTH = 255  # Contact.external_id, Company.external_id

# kind → normalised value → the spelling entered, in input order.
Normalised = dict[IdentifierKind, dict[str, str]]

# NUL, which PostgreSQL's text refuses, and lone surrogates, which no encoding writes: the GraphQL
# layer refuses them already, a file read by `crm import` may hold them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# An external id is a key the CRM matches on: no control character may hide in it.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def name(raw: str, argument: str) -> str:
    """A first, last or company name, trimmed; empty is allowed."""
    value = raw.strip()
    if len(value) > NAME_LENGTH:
        raise BadUserInput(f"at most {NAME_LENGTH} characters", argument=argument)
    if _UNSTORABLE.search(value):
        raise BadUserInput(
            "must not contain a NUL character or a lone surrogate", argument=argument
        )
    return value


def external_id(raw: str, argument: str = "externalId") -> str:
    """The CRM's id of a record: trimmed, 1 to 255 characters, no control character."""
    value = raw.strip()
    if not value:
        raise BadUserInput("an externalId must not be empty", argument=argument)
    if len(value) > EXTERNAL_ID_LENGTH:
        raise BadUserInput(
            f"an externalId is at most {EXTERNAL_ID_LENGTH} characters", argument=argument
        )
    if _CONTROL.search(value):
        raise BadUserInput("an externalId must not contain control characters", argument=argument)
    return value


def normalised_identifiers(
    given: Mapping[IdentifierKind, Sequence[str]], region: str
) -> Normalised:
    """Each list normalised, duplicates dropped; the first invalid entry fails the whole call."""
    normalised: Normalised = {}
    for kind, raws in given.items():
        name = IDENTIFIER_FIELDS[kind]
        if len(raws) > MAX_LIST_LENGTH:
            raise BadUserInput(f"at most {MAX_LIST_LENGTH} {name}", argument=name)
        values: dict[str, str] = {}
        for index, raw in enumerate(raws):
            identifier = normalize_contact_identifier(kind, raw, region=region)
            original = raw.strip()
            if isinstance(identifier, Rejected) or len(original) > ORIGINAL_LENGTH:
                raise BadUserInput(
                    f"{raw!r} is not a valid {kind.value.lower().replace('_', ' ')}",
                    argument=f"{name}[{index}]",
                )
            values.setdefault(identifier.value, original)
        normalised[kind] = values
    return normalised


def normalised_domains(raws: Sequence[str]) -> dict[str, int]:
    """The domains normalised, duplicates dropped: each with the index it was first given at."""
    if len(raws) > MAX_LIST_LENGTH:
        raise BadUserInput(f"at most {MAX_LIST_LENGTH} domains", argument="domains")
    index_of: dict[str, int] = {}
    for index, raw in enumerate(raws):
        domain = normalize_company_domain(raw)
        if isinstance(domain, Rejected):
            raise BadUserInput(f"{raw!r} is not a valid domain", argument=f"domains[{index}]")
        index_of.setdefault(domain, index)
    return index_of

"""Opaque global ids: `base64("Type:key")`, as Relay's Global Object Identification asks."""

from __future__ import annotations

import base64
import binascii

from core.errors import BadUserInput

SHOWN_LENGTH = 80


def shown(global_id: str) -> str:
    """An id as an error message quotes it: whole when short, else its start, so that an error
    never returns what a client sent in bulk."""
    if len(global_id) <= SHOWN_LENGTH:
        return repr(global_id)
    return f"{global_id[:SHOWN_LENGTH]!r}… ({len(global_id)} characters)"


def to_global_id(type_name: str, key: str | int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def from_global_id(global_id: str) -> tuple[str, str]:
    """The type name and key of an id this server issued; anything else is bad input."""
    try:
        decoded = base64.b64decode(global_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadUserInput(f"{shown(global_id)} is not an id this server issued") from None
    type_name, separator, key = decoded.partition(":")
    if not separator or not type_name or not key:
        raise BadUserInput(f"{shown(global_id)} is not an id this server issued")
    return type_name, key


def key_of(global_id: str, *type_names: str) -> tuple[str, str] | None:
    """The type name and key of an id of one of `type_names`; None for any other string."""
    try:
        type_name, key = from_global_id(global_id)
    except BadUserInput:
        return None
    return (type_name, key) if type_name in type_names else None


MAX_PRIMARY_KEY = 2**31 - 1


def primary_key(text: str) -> int | None:
    """A database primary key written in ASCII digits, in the range of the columns; else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_PRIMARY_KEY)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_PRIMARY_KEY else None


def int_key(global_id: str, expected_type: str) -> int:
    type_name, key = from_global_id(global_id)
    pk = primary_key(key) if type_name == expected_type else None
    if pk is None:
        raise BadUserInput(f"{shown(global_id)} is not the id of a {expected_type}")
    return pk

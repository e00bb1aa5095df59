"""Checks on what clients send, made once, where the GraphQL layer receives it.

A string argument or input field is refused when it holds a character no column can keep (NUL,
which PostgreSQL's text types refuse, or a lone surrogate, which no encoding writes), or when it
is longer than the column or the upstream call it is meant for; a list is refused beyond its size.
A refusal is a `BadUserInput` naming the field at fault (`emails[2]`, `filter.folder`), raised
before any query or upstream request is made, so that bad input can never become an internal
error further down.

Input types declare their bounds as field metadata, `strawberry.field(metadata=bounds(200))`;
`check` walks an input object and applies them, and the defaults below to every field without
its own: no string or list a client sends goes unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

import strawberry
from strawberry import Some
from strawberry.types.base import get_object_definition
from strawberry.types.unset import UnsetType
from strawberry.utils.str_converters import to_camel_case

from core.cursors import MAX_CURSOR_LENGTH
from core.errors import BadUserInput

__all__ = [
    "EXTERNAL_ID_LENGTH",
    "HTML_LENGTH",
    "IDEMPOTENCY_KEY_LENGTH",
    "IDENTIFIER_LENGTH",
    "ID_LENGTH",
    "NAME_LENGTH",
    "SEARCH_LENGTH",
    "SEARCH_WORDS",
    "TEXT_LENGTH",
    "URL_LENGTH",
    "bounds",
    "check",
    "cursor",
    "echo",
    "search",
    "text",
]

# Column sizes (db/models.py).
NAME_LENGTH = 200  # Contact.first_name, Contact.last_name, Company.name
IDENTIFIER_LENGTH = 320  # ContactIdentifier.value and .original, NeverStoreEntry.value
EXTERNAL_ID_LENGTH = 255  # UniPile ids: Conversation.external_id, a folder's provider id
# A domain may be given as a URL (`https://www.acme.com/about`), of which the host is kept.
URL_LENGTH = 2_048
IDEMPOTENCY_KEY_LENGTH = 128  # OutboundMessage.idempotency_key
# A global id is base64 of `Type:key`; the longest, a Conversation's `account:UniPile id`, has
# 4 * ceil((13 + 10 + 1 + 255) / 3) = 372 characters.
ID_LENGTH = 512
# Message bodies, sent to UniPile as they are.
TEXT_LENGTH = 100_000
HTML_LENGTH = 1_000_000
# Any other string or list.
DEFAULT_TEXT_LENGTH = 10_000
DEFAULT_LIST_LENGTH = 100
# `contacts(search:)` and `companies(search:)`: each word costs a condition on every row.
SEARCH_LENGTH = 200
SEARCH_WORDS = 10

_MAX_LENGTH = "switchboard.inputs.max_length"
_MAX_ITEMS = "switchboard.inputs.max_items"
# NUL, and the code points of UTF-16 surrogates, which stand for nothing alone.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def bounds(max_length: int | None = None, *, max_items: int | None = None) -> dict[str, int]:
    """Metadata for an input field: the longest string it takes (each item's, for a list) and
    the most items a list holds."""
    metadata = {}
    if max_length is not None:
        metadata[_MAX_LENGTH] = max_length
    if max_items is not None:
        metadata[_MAX_ITEMS] = max_items
    return metadata


def text(value: str, argument: str, max_length: int = DEFAULT_TEXT_LENGTH) -> str:
    """`value`, when a column can keep it: at most `max_length` characters, no NUL, no lone
    surrogate; else `BadUserInput` naming `argument`."""
    if len(value) > max_length:
        raise BadUserInput(
            f"{argument} must be at most {max_length} characters long", argument=argument
        )
    found = _UNSTORABLE.search(value)
    if found is not None:
        what = "a NUL character" if found.group() == "\x00" else "a lone surrogate"
        raise BadUserInput(f"{argument} must not contain {what}", argument=argument)
    return value


def cursor(value: str | None, argument: str = "after") -> str | None:
    """A cursor no longer than any this server issues: an offset cursor is not sealed, and the
    digits of a forged one must stay few enough for `int()` (which refuses 4,300 and more)."""
    return None if value is None else text(value, argument, MAX_CURSOR_LENGTH)


def echo(value: str) -> str:
    """A value a client sent, as a response may carry it back: a lone surrogate, which no JSON
    encoder writes, becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", value)


def search(value: str | None, argument: str = "search") -> str | None:
    """A search string of at most `SEARCH_LENGTH` characters and `SEARCH_WORDS` words."""
    if value is None:
        return None
    text(value, argument, SEARCH_LENGTH)
    if len(value.split()) > SEARCH_WORDS:
        raise BadUserInput(f"{argument} takes at most {SEARCH_WORDS} words", argument=argument)
    return value


def check(
    value: object,
    argument: str,
    *,
    max_length: int | None = None,
    max_items: int | None = None,
    is_id: bool = False,
) -> None:
    """Check every string and list in `value`: an input object (by its fields' bounds), a list,
    a string, `Some(...)` of one; `argument` names it in errors, and prefixes its fields'
    names (`filter` → `filter.folder`; `""` for a mutation's `input`, whose fields are named
    alone, as `error.field` names them)."""
    if value is None or isinstance(value, UnsetType | bool | int | float | Enum):
        return
    if isinstance(value, Some):
        check(value.value, argument, max_length=max_length, max_items=max_items, is_id=is_id)
        return
    if isinstance(value, str):
        default = ID_LENGTH if is_id else DEFAULT_TEXT_LENGTH
        text(value, argument or "input", default if max_length is None else max_length)
        return
    if isinstance(value, list | tuple):
        limit = DEFAULT_LIST_LENGTH if max_items is None else max_items
        if len(value) > limit:
            raise BadUserInput(f"{argument} holds at most {limit} entries", argument=argument)
        for index, item in enumerate(value):
            check(item, f"{argument}[{index}]", max_length=max_length, is_id=is_id)
        return
    _check_fields(value, argument)


def _check_fields(value: object, argument: str) -> None:
    definition = get_object_definition(value)
    if definition is None or not definition.is_input:
        raise TypeError(f"no input check for a {type(value).__name__}")
    for field in definition.fields:
        name = field.graphql_name or to_camel_case(field.python_name)
        metadata: Mapping[Any, Any] = field.metadata or {}
        check(
            getattr(value, field.python_name),
            f"{argument}.{name}" if argument else name,
            max_length=metadata.get(_MAX_LENGTH),
            max_items=metadata.get(_MAX_ITEMS),
            is_id=_is_id(field.type),
        )


def _is_id(annotation: object) -> bool:
    """Whether a field's type is `ID`, maybe in a list or optional."""
    while hasattr(annotation, "of_type"):
        annotation = annotation.of_type
    return annotation is strawberry.ID

"""Text every database accepts: what SQLite keeps, PostgreSQL refuses, and UTF-8 cannot encode.

PostgreSQL refuses U+0000 in `text` and in `jsonb` (as the `\\u0000` escape too), and no lone
surrogate (U+D800 to U+DFFF, which JSON's `\\ud800` escape produces) can be encoded to UTF-8 at
all. UniPile passes on whatever senders write, so text that reaches a column from outside goes
through `storable` first: each such code point becomes U+FFFD, the replacement character.
Replacing rather than removing keeps an id that held one from turning into another, valid id.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, TypeVar, cast

__all__ = ["REPLACEMENT", "storable", "storable_text"]

T = TypeVar("T")

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    """`text` with every code point a database refuses replaced; `text` itself when clean."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def storable(value: T) -> T:
    """`value` with `storable_text` applied to every string in it: dictionary keys and values,
    list and tuple items, and the fields of dataclass instances, recursively.

    What is clean comes back as the very same object (so enum members, which are strings too,
    stay members); other objects (numbers, datetimes, models) are left as they are.
    """
    return cast(T, _clean(value))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        cleaned = {_clean(key): _clean(item) for key, item in value.items()}
        unchanged = len(cleaned) == len(value) and all(
            key in value and value[key] is item for key, item in cleaned.items()
        )
        return value if unchanged else cleaned
    if isinstance(value, list | tuple):
        items = [_clean(item) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        if isinstance(value, list):
            return items
        # A named tuple takes its fields one by one.
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            if not field.init:
                continue
            current = getattr(value, field.name)
            cleaned_field = _clean(current)
            if cleaned_field is not current:
                changes[field.name] = cleaned_field
        return dataclasses.replace(value, **changes) if changes else value
    return value

"""UniPile ids as URL path segments: the one way an id gets into the path of a request.

Ids come from clients (inside opaque conversation ids) and from webhook payloads, so they are
untrusted: unescaped, ``../webhooks`` as a chat id turned ``GET /chats/{id}`` into
``GET /webhooks``. Every id is checked, then percent-encoded whole, ``/`` included.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

from unipile._errors import InvalidIdError

__all__ = ["MAX_ID_LENGTH", "is_valid_id", "path_segment"]

MAX_ID_LENGTH = 255
DOT_SEGMENTS = frozenset({".", ".."})
ERROR_EXCERPT = 80


def is_valid_id(value: str) -> bool:
    """True when ``value`` may name a UniPile object: 1 to 255 characters, no control character,
    and no ``.`` or ``..`` between slashes.

    ``a/../b`` is refused although it would be sent encoded (``a%2F..%2Fb``): a proxy that decodes
    ``%2F`` before resolving dot segments would still climb out of the path with it.
    """
    return (
        0 < len(value) <= MAX_ID_LENGTH
        and DOT_SEGMENTS.isdisjoint(value.split("/"))
        and not any(unicodedata.category(char) == "Cc" for char in value)
    )


def path_segment(value: str) -> str:
    """``value`` as one URL path segment, every character outside ``A-Za-z0-9_.-~`` encoded.

    Raises :class:`InvalidIdError` when :func:`is_valid_id` refuses it, so that nothing is sent.
    """
    if not is_valid_id(value):
        # repr() escapes control characters, so the message cannot forge a log line.
        raise InvalidIdError(f"not a UniPile id: {value[:ERROR_EXCERPT]!r}")
    return quote(value, safe="")

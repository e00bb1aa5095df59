"""Cursors a client can hold but not forge: a short payload sealed with an HMAC that binds it to
the viewer and to the list that issued it.

The payload names server-side state (or an offset); nothing in it is ever forwarded upstream as
the client sent it. A cursor that was altered, that another user was given, or that belongs to
another list (other filters, another conversation) fails the seal and is bad input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from core.errors import BadUserInput

MAC_BYTES = 16
# Beyond any real list; keeps an offset from overflowing the database's OFFSET.
MAX_OFFSET = 2**31 - 1
MAX_CURSOR_LENGTH = 512
_KEY_LABEL = b"switchboard cursor seal v1"


class InvalidCursor(BadUserInput):
    """`after` is not a cursor this server issued to this viewer for this list."""

    def __init__(self, message: str = "`after` is not a cursor of this list") -> None:
        super().__init__(message, argument="after", reason="CURSOR_INVALID")


class ExpiredCursor(BadUserInput):
    """The server-side state a cursor names is gone: page again from the start."""

    def __init__(self) -> None:
        super().__init__(
            "`after` has expired: read the list again from its first page",
            argument="after",
            reason="CURSOR_EXPIRED",
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Seals and opens cursors with a key derived from the server's signing secret."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()

    def _mac(self, viewer_id: int, list_key: str, payload: bytes) -> bytes:
        message = b"\x00".join((str(viewer_id).encode(), list_key.encode(), payload))
        return hmac.new(self._key, message, hashlib.sha256).digest()[:MAC_BYTES]

    def seal(self, viewer_id: int, list_key: str, payload: str) -> str:
        data = payload.encode()
        return f"{_b64(data)}.{_b64(self._mac(viewer_id, list_key, data))}"

    def open(self, viewer_id: int, list_key: str, cursor: str) -> str:
        """The payload of a cursor sealed for this viewer and list; `InvalidCursor` otherwise."""
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1 or not cursor.isascii():
            raise InvalidCursor()
        encoded, _, mac = cursor.partition(".")
        try:
            data, given = _unb64(encoded), _unb64(mac)
        except (binascii.Error, ValueError):
            raise InvalidCursor() from None
        if not hmac.compare_digest(given, self._mac(viewer_id, list_key, data)):
            raise InvalidCursor()
        return data.decode()


class ViewerCursors:
    """The codec bound to one viewer, for the offset cursors of database lists."""

    def __init__(self, codec: CursorCodec, viewer_id: int) -> None:
        self.codec = codec
        self.viewer_id = viewer_id

    def seal(self, list_key: str, payload: str) -> str:
        return self.codec.seal(self.viewer_id, list_key, payload)

    def open(self, list_key: str, cursor: str) -> str:
        return self.codec.open(self.viewer_id, list_key, cursor)

    def offset(self, list_key: str, offset: int) -> str:
        return self.seal(list_key, str(offset))

    def read_offset(self, list_key: str, cursor: str) -> int:
        payload = self.open(list_key, cursor)
        if not (payload.isascii() and payload.isdigit()) or int(payload) > MAX_OFFSET:
            raise InvalidCursor()
        return int(payload)

    def start_offset(self, list_key: str, after: str | None) -> int:
        """The offset of the first item after `after` (the list's start without one)."""
        return 0 if after is None else self.read_offset(list_key, after) + 1

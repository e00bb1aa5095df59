"""One viewer's walk through one list: resuming from a sealed cursor, issuing one per edge.

A page's record is named by a digest of what it holds, and a walk by a digest of its first page:
the same page asked again (a reload, a poll) writes the record it wrote before, so steady load
keeps the store's size flat. Two walks that began with the same first page share their shown
threads, as a replayed cursor does within one walk, which the walk allows for
(`inbox.merge.Lane._shown_above`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import orjson

from core.cursors import CursorCodec, ExpiredCursor, InvalidCursor
from core.read_ledger import note_rewrite
from paging._state import LaneState, LaneStates, Ordering, pack_states, unpack_state
from paging._store import PagingStore

_ID_BYTES = 12


@dataclass(frozen=True, slots=True)
class Resumed:
    """Where a page starts: its walk (`session`; None for a first page, whose record will name
    the walk) and each lane's state (none: the list's top)."""

    session: str | None = None
    states: dict[str, LaneState] = field(default_factory=dict)


class Pager:
    def __init__(
        self, store: PagingStore, codec: CursorCodec, viewer_id: int, list_key: str
    ) -> None:
        self.store = store
        self.codec = codec
        self.viewer_id = viewer_id
        self.list_key = list_key

    async def resume(self, after: str | None) -> Resumed:
        if after is None:
            return Resumed()
        record_id, _, edge = self.codec.open(self.viewer_id, self.list_key, after).partition(".")
        raw = await self.store.get(record_id)
        if raw is None:
            raise ExpiredCursor()
        record = orjson.loads(raw)
        if record["u"] != self.viewer_id or record["l"] != self.list_key:
            raise InvalidCursor()
        if not edge.isdigit() or int(edge) >= len(record["e"]):
            raise InvalidCursor()
        return Resumed(record["s"], unpack_state(record, int(edge)))

    async def shown(
        self, session: str | None, lane: str, threads: Sequence[str]
    ) -> dict[str, Ordering]:
        """Where this walk showed these threads; a new walk has shown nothing yet."""
        if session is None:
            return {}
        return await self.store.shown(session, lane, threads)

    async def issue(
        self,
        session: str | None,
        edge_states: Sequence[LaneStates],
        shown: Mapping[str, Mapping[str, Ordering]] | None = None,
    ) -> list[str]:
        """One cursor per edge, each resuming right after it; one write for the whole page."""
        page = {"u": self.viewer_id, "l": self.list_key, **pack_states(edge_states)}
        walk = _digest(orjson.dumps(page)) if session is None else session
        if shown:
            await self._written(
                partial(self.store.mark_shown, walk, shown),
                lambda: len(orjson.dumps(shown, default=str)),
            )
        if not edge_states:
            return []
        record = orjson.dumps({**page, "s": walk})
        record_id = _digest(record)
        await self._written(partial(self.store.put, record_id, record), lambda: len(record))
        return [
            self.codec.seal(self.viewer_id, self.list_key, f"{record_id}.{index}")
            for index in range(len(edge_states))
        ]

    @staticmethod
    async def _written(write: Callable[[], Awaitable[None]], size: Callable[[], int]) -> None:
        """Write, and again whenever the page's answer is given again (`core.read_ledger`): a
        record expires from when it was last written, as the cursors given with it must."""
        await write()
        note_rewrite(write, size)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.blake2b(data, digest_size=_ID_BYTES).digest()).decode()

"""One viewer's walk through one list: resuming from a sealed cursor, issuing one per edge."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from core.cursors import CursorCodec, ExpiredCursor, InvalidCursor
from paging._state import LaneState, LaneStates, Ordering, pack_states, unpack_state
from paging._store import PagingStore

_ID_BYTES = 12


@dataclass(frozen=True, slots=True)
class Resumed:
    """Where a page starts: its walk (`session`) and each lane's state (none: the list's top)."""

    session: str
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
            return Resumed(secrets.token_urlsafe(_ID_BYTES))
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

    async def shown(self, session: str, lane: str, threads: Sequence[str]) -> dict[str, Ordering]:
        return await self.store.shown(session, lane, threads)

    async def issue(
        self,
        session: str,
        edge_states: Sequence[LaneStates],
        shown: Mapping[str, Mapping[str, Ordering]] | None = None,
    ) -> list[str]:
        """One cursor per edge, each resuming right after it; one write for the whole page."""
        if shown:
            await self.store.mark_shown(session, shown)
        if not edge_states:
            return []
        record_id = secrets.token_urlsafe(_ID_BYTES)
        record = {"u": self.viewer_id, "l": self.list_key, "s": session, **pack_states(edge_states)}
        await self.store.put(record_id, orjson.dumps(record))
        return [
            self.codec.seal(self.viewer_id, self.list_key, f"{record_id}.{index}")
            for index in range(len(edge_states))
        ]

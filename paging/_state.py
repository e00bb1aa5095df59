"""The state of a walk through one live list (a lane), and its compact stored form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Ordering = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Position:
    at: datetime | None
    id: str

    def ordering(self) -> Ordering:
        """Rows are newest first; comparing this descending gives the upstream order."""
        return (self.at.isoformat() if self.at is not None else "", self.id)


@dataclass(frozen=True, slots=True)
class LaneState:
    """How far a walk went in one list: the upstream page being read (None: the first), the
    position of the last row consumed from it, and whether the list is used up."""

    upstream: str | None = None
    after: Position | None = None
    exhausted: bool = False


LaneStates = Mapping[str, LaneState]


def pack_states(states: Sequence[LaneStates]) -> dict[str, Any]:
    """States at each edge of a page; the upstream cursors they share are stored once."""
    upstreams: dict[str, int] = {}

    def lane(state: LaneState) -> list[Any]:
        index = (
            -1 if state.upstream is None else upstreams.setdefault(state.upstream, len(upstreams))
        )
        after = state.after
        return [
            index,
            None if after is None or after.at is None else after.at.isoformat(),
            None if after is None else after.id,
            state.exhausted,
        ]

    edges = [{key: lane(state) for key, state in edge.items()} for edge in states]
    return {"up": list(upstreams), "e": edges}


def unpack_state(packed: Mapping[str, Any], edge: int) -> dict[str, LaneState]:
    upstreams: list[str] = packed["up"]
    states: dict[str, LaneState] = {}
    for key, (index, at, row_id, exhausted) in packed["e"][edge].items():
        after = (
            None
            if row_id is None
            else Position(None if at is None else datetime.fromisoformat(at), row_id)
        )
        states[key] = LaneState(
            upstream=None if index < 0 else upstreams[index], after=after, exhausted=exhausted
        )
    return states

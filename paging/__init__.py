"""Paging over live lists: where a walk through UniPile's lists stands, kept on the server.

UniPile's own cursors carry their filters (the account included), so they never leave the
server: a client holds a short sealed cursor (`core.cursors`) naming a page record here, and
resumes exactly after any edge of that page. Records live in Redis when it is configured and in
process memory otherwise, each for a limited time; an expired one is `CURSOR_EXPIRED`.
"""

from paging._pager import Pager, Resumed
from paging._state import LaneState, LaneStates, Ordering, Position
from paging._store import (
    MemoryPagingStore,
    PagingStore,
    RedisPagingStore,
    paging_store_for,
)
from paging._walk import walk

__all__ = [
    "LaneState",
    "LaneStates",
    "MemoryPagingStore",
    "Ordering",
    "Pager",
    "PagingStore",
    "Position",
    "RedisPagingStore",
    "Resumed",
    "paging_store_for",
    "walk",
]

"""Relay pagination shared by every connection: `PageInfo`, argument checks and offset cursors.

Cursors are opaque to clients. An offset cursor names its list, so that a cursor of one list
handed to another is refused rather than silently paging from a meaningless position.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import strawberry

from core.errors import BadUserInput

MAX_PAGE_SIZE = 100
# Beyond any real list; keeps a forged cursor from overflowing the database's OFFSET.
MAX_OFFSET = 2**31 - 1
_OFFSET_PREFIX = "offset"

ItemT = TypeVar("ItemT")
NodeT = TypeVar("NodeT")


@strawberry.type(
    description="Where a page sits in its list, as Relay's cursor connections define it."
)
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


class _HasCursor(Protocol):
    @property
    def cursor(self) -> str: ...


def page_info(
    edges: Sequence[_HasCursor], *, has_next_page: bool, has_previous_page: bool
) -> PageInfo:
    """Relay's page info: the first and last edges' cursors, null on an empty page."""
    return PageInfo(
        has_next_page=has_next_page,
        has_previous_page=has_previous_page,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )


def validate_first(first: int | None, default: int, maximum: int = MAX_PAGE_SIZE) -> int:
    """The page size asked for, `default` when not given; outside 1..`maximum` is bad input."""
    if first is None:
        return default
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}, not {first}", argument="first")
    return first


def encode_offset_cursor(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_OFFSET_PREFIX}:{kind}:{offset}".encode()).decode()


def decode_offset_cursor(kind: str, cursor: str) -> int:
    """The offset in list `kind` that `cursor` names; a cursor not issued for it is bad input."""
    offset = _parse_offset_cursor(kind, cursor)
    if offset is None or offset > MAX_OFFSET:
        raise BadUserInput(f"{cursor!r} is not a cursor of this list", argument="after")
    return offset


def _parse_offset_cursor(kind: str, cursor: str) -> int | None:
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = decoded.split(":", 2)
    if len(parts) != 3 or parts[:2] != [_OFFSET_PREFIX, kind]:
        return None
    digits = parts[2]
    return int(digits) if digits.isascii() and digits.isdigit() else None


def start_offset(kind: str, after: str | None) -> int:
    """The offset of the first item after the cursor `after` (the list's start without one)."""
    return 0 if after is None else decode_offset_cursor(kind, after) + 1


@dataclass(frozen=True, slots=True)
class OffsetPage(Generic[ItemT]):
    """One page of a database list: its items, where it starts, and what lies around it."""

    kind: str
    offset: int
    items: Sequence[ItemT]
    has_next_page: bool
    total_count: int


@strawberry.type(description="An item of a list, with the cursor to page on from it.")
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type(description="A page of a database list, with the size of the whole list.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many items the whole list holds.")

    @classmethod
    def from_page(
        cls, page: OffsetPage[ItemT], to_node: Callable[[ItemT], NodeT]
    ) -> Connection[NodeT]:
        edges = [
            Edge(cursor=encode_offset_cursor(page.kind, page.offset + index), node=to_node(item))
            for index, item in enumerate(page.items)
        ]
        info = page_info(edges, has_next_page=page.has_next_page, has_previous_page=page.offset > 0)
        return cls(edges=edges, page_info=info, total_count=page.total_count)

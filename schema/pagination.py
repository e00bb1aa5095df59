"""Relay pagination shared by every connection: `PageInfo`, edges and database connections.

A database list's cursors are offsets sealed (`core.cursors.ViewerCursors`) to the viewer and to
the list with its filter, so that a cursor of one list handed to another is refused rather than
silently paging from a meaningless position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import strawberry

from core.cursors import ViewerCursors
from core.pages import OffsetPage

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
        cls, page: OffsetPage[ItemT], to_node: Callable[[ItemT], NodeT], cursors: ViewerCursors
    ) -> Connection[NodeT]:
        edges = [
            Edge(cursor=cursors.offset(page.list_key, page.offset + index), node=to_node(item))
            for index, item in enumerate(page.items)
        ]
        info = page_info(edges, has_next_page=page.has_next_page, has_previous_page=page.offset > 0)
        return cls(edges=edges, page_info=info, total_count=page.total_count)

"""Pages of lists: the size a client may ask for, and one page of a database list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.errors import BadUserInput

MAX_PAGE_SIZE = 100

ItemT = TypeVar("ItemT")


def validate_first(first: int | None, default: int, maximum: int = MAX_PAGE_SIZE) -> int:
    """The page size asked for, `default` when not given; outside 1..`maximum` is bad input."""
    if first is None:
        return default
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}, not {first}", argument="first")
    return first


@dataclass(frozen=True, slots=True)
class OffsetPage(Generic[ItemT]):
    """One page of a database list: its items, where it starts, and what lies around it."""

    list_key: str
    offset: int
    items: Sequence[ItemT]
    has_next_page: bool
    total_count: int


@dataclass(frozen=True, slots=True)
class CursorPage(Generic[ItemT]):
    """Items of a list, each with the cursor that resumes right after it."""

    edges: Sequence[tuple[ItemT, str]]
    has_next_page: bool
    has_previous_page: bool

"""Keyset pagination with opaque cursors, as UniPile's SDK schemas describe them.

A cursor is padded standard base64 of JSON ``{"filters", "limit", "cursor": {"last_id",
"last_date"?}}``. Lists are ordered newest first on ``(date, id)`` (``id`` alone for undated
lists) and the next page starts strictly after the last item returned. With a keyset cursor an
item never appears twice and items that existed when paging began are never skipped, with one
deliberate exception: a chat that receives a new message while a client is paging moves to the top
(past the cursor), so it is not repeated later; the client sees it on its next first page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from unipile._timestamps import format_timestamp, parse_timestamp
from unipile.sandbox._problems import invalid
from unipile.sandbox._shapes import JSON

DEFAULT_LIMIT, MAX_LIMIT = 100, 250
SortKey = tuple[str, str]


@dataclass(frozen=True)
class ListQuery:
    filters: Mapping[str, str]
    limit: int
    after_key: SortKey | None
    """Sort key of the last item already returned."""


def encode_cursor(state: JSON) -> str:
    raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    return base64.b64encode(raw).decode()


def _decode_cursor(raw: str) -> JSON:
    try:
        state = json.loads(base64.b64decode(raw, validate=True))
        position = state["cursor"]
        if not isinstance(state["filters"], dict) or not isinstance(position["last_id"], str):
            raise TypeError
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise invalid("cursor is not valid") from exc
    return state  # type: ignore[no-any-return]


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def list_query(params: Mapping[str, str], filter_names: Iterable[str]) -> ListQuery:
    """The query of a list call; with a ``cursor``, filters and limit come from the cursor."""
    cursor = params.get("cursor")
    if cursor is None:
        filters = {name: params[name] for name in filter_names if name in params}
        return ListQuery(filters, _limit(params.get("limit")), None)
    state = _decode_cursor(cursor)
    position = state["cursor"]
    key = (position.get("last_date", ""), position["last_id"])
    return ListQuery(state["filters"], _limit(str(state.get("limit", DEFAULT_LIMIT))), key)


def timestamp_filter(filters: Mapping[str, str], name: str) -> str | None:
    """A ``before``/``after`` filter, normalised to the stored format so strings compare."""
    raw = filters.get(name)
    if raw is None:
        return None
    try:
        return format_timestamp(parse_timestamp(raw))
    except ValueError as exc:
        raise invalid(f"{name} must be an ISO-8601 UTC datetime") from exc


def bool_filter(filters: Mapping[str, str], name: str) -> bool | None:
    raw = filters.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise invalid(f"{name} must be true or false")
    return raw == "true"


def page(
    items: Iterable[JSON],
    query: ListQuery,
    sort_key: Callable[[JSON], SortKey],
) -> tuple[list[JSON], str | None]:
    """One page of ``items`` (newest first) and the cursor to the next, ``None`` when last."""
    ordered = sorted(items, key=sort_key, reverse=True)
    if query.after_key is not None:
        after_key = query.after_key
        ordered = [item for item in ordered if sort_key(item) < after_key]
    return page_in_order(ordered, query, sort_key)


def page_in_order(
    items: Iterable[JSON],
    query: ListQuery,
    sort_key: Callable[[JSON], SortKey],
) -> tuple[list[JSON], str | None]:
    """``page`` for items already newest first and strictly after the cursor's position: reads
    only as far as the page needs (one item more, to know whether another page follows)."""
    taken = list(islice(items, query.limit + 1))
    chunk = taken[: query.limit]
    if len(taken) <= query.limit:
        return chunk, None
    last_date, last_id = sort_key(chunk[-1])
    position: dict[str, Any] = {"last_id": last_id}
    if last_date:
        position["last_date"] = last_date
    state = {"filters": dict(query.filters), "limit": query.limit, "cursor": position}
    return chunk, encode_cursor(state)


def by_date(field: str) -> Callable[[JSON], SortKey]:
    def key(item: JSON) -> SortKey:
        return (item[field] or "", item["id"])

    return key


def by_id(item: JSON) -> SortKey:
    return ("", item["id"])

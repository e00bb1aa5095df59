"""What the database knows of a page of conversations: stored copies and links, in one query.

A UNION ALL of the stored conversations and the links (with their targets' names) keeps an inbox
page at a fixed number of queries whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.connection import get_connection

from core.vocabulary import LinkSource, MatchMethod, StorageReason
from crm import CandidateKind, LinkState
from db.sql import placeholders

ConversationKey = tuple[int, str]

_STATE_SQL = """
SELECT 'L' AS row_kind, l.account_id, l.conversation_external_id AS external_id, l.id AS row_id,
       l.contact_id, l.company_id, l.source, l.rule, l.created_by_id, l.created_at AS at,
       l.removed_at, c.first_name, c.last_name, co.name AS company_name, NULL AS storage_reason
FROM conversation_link l
LEFT JOIN contact c ON c.id = l.contact_id
LEFT JOIN company co ON co.id = l.company_id
WHERE l.workspace_id = {workspace1} AND l.conversation_external_id IN ({ids1})
UNION ALL
SELECT 'C', s.account_id, s.external_id, s.id, NULL, NULL, NULL, NULL, NULL, s.stored_at,
       NULL, NULL, NULL, NULL, s.storage_reason
FROM conversation s
WHERE s.workspace_id = {workspace2} AND s.external_id IN ({ids2})
"""


@dataclass(frozen=True, slots=True)
class LinkRecord:
    id: int
    target: CandidateKind
    target_id: int
    target_name: str
    source: LinkSource
    rule: MatchMethod | None
    created_by_id: int | None
    created_at: datetime
    removed_at: datetime | None

    def state(self) -> LinkState:
        return LinkState(
            self.target, self.target_id, self.source, removed=self.removed_at is not None
        )


@dataclass(frozen=True, slots=True)
class ConversationState:
    stored_id: int | None = None
    storage_reason: StorageReason | None = None
    stored_at: datetime | None = None
    links: tuple[LinkRecord, ...] = field(default_factory=tuple)

    @property
    def active_links(self) -> tuple[LinkRecord, ...]:
        return tuple(link for link in self.links if link.removed_at is None)


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _link(row: dict[str, Any]) -> LinkRecord:
    is_contact = row["contact_id"] is not None
    name = (
        f"{row['first_name'] or ''} {row['last_name'] or ''}".strip()
        if is_contact
        else row["company_name"]
    )
    created_at = _as_datetime(row["at"])
    assert created_at is not None, "links always have a creation time"
    return LinkRecord(
        id=row["row_id"],
        target=CandidateKind.CONTACT if is_contact else CandidateKind.COMPANY,
        target_id=row["contact_id"] if is_contact else row["company_id"],
        target_name=name or "",
        source=LinkSource(row["source"]),
        rule=MatchMethod(row["rule"]) if row["rule"] else None,
        created_by_id=row["created_by_id"],
        created_at=created_at,
        removed_at=_as_datetime(row["removed_at"]),
    )


async def conversation_states(
    workspace_id: int, keys: Iterable[ConversationKey]
) -> dict[ConversationKey, ConversationState]:
    """The state of each conversation; one query, none when there are no keys."""
    wanted = set(keys)
    if not wanted:
        return {}
    external_ids = sorted({external_id for _, external_id in wanted})
    per_select = len(external_ids) + 1
    first, second = placeholders(1, per_select), placeholders(1 + per_select, per_select)
    sql = _STATE_SQL.format(
        workspace1=first[0],
        ids1=", ".join(first[1:]),
        workspace2=second[0],
        ids2=", ".join(second[1:]),
    )
    values: Sequence[Any] = [workspace_id, *external_ids] * 2
    rows = await get_connection("default").execute_query_dict(sql, list(values))
    return _assemble(wanted, rows)


def _assemble(
    wanted: set[ConversationKey], rows: list[dict[str, Any]]
) -> dict[ConversationKey, ConversationState]:
    links: dict[ConversationKey, list[LinkRecord]] = {}
    stored: dict[ConversationKey, dict[str, Any]] = {}
    for row in rows:
        key = (row["account_id"], row["external_id"])
        if key not in wanted:
            continue
        if row["row_kind"] == "L":
            links.setdefault(key, []).append(_link(row))
        else:
            stored[key] = row
    return {
        key: ConversationState(
            stored_id=stored[key]["row_id"] if key in stored else None,
            storage_reason=StorageReason(stored[key]["storage_reason"]) if key in stored else None,
            stored_at=_as_datetime(stored[key]["at"]) if key in stored else None,
            links=tuple(sorted(links.get(key, ()), key=lambda link: link.id)),
        )
        for key in wanted
    }

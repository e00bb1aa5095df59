"""What the database knows of a page of conversations: stored copies and links, in one query.

A UNION ALL of the stored conversations and the links (with their targets' names) keeps an inbox
page at a fixed number of queries whatever its size. When the request has not got the workspace's
storage rules yet, they come in the same query (`states_and_rules`), which keeps a page whose
caches are empty at three queries: the scope, the matches, and this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.connection import get_connection

from core.vocabulary import LinkSource, MatchMethod, StorageReason
from crm import (
    OWN_DOMAIN_ROW,
    POLICY_ROW,
    RULE_ROW,
    CandidateKind,
    LinkState,
    StorageRules,
    storage_rules_of,
)
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

# The rules' rows in the columns of the states': `crm.storage.RuleRow`'s row kind, name and value
# in `source`, `first_name` and `last_name`, which have the right type on every backend.
_RULE_ROW = "R"
_RULES_SQL = """
UNION ALL
SELECT '{rule_row}', NULL, NULL, NULL, NULL, NULL, '{policy}', NULL, NULL, NULL, NULL,
       p.channel, p.policy, NULL, NULL
FROM storage_policy p WHERE p.workspace_id = {workspace3}
UNION ALL
SELECT '{rule_row}', NULL, NULL, NULL, NULL, NULL, n.kind, NULL, NULL, NULL, NULL, n.kind, n.value,
       NULL, NULL
FROM never_store n WHERE n.workspace_id = {workspace4}
UNION ALL
SELECT '{rule_row}', NULL, NULL, NULL, NULL, NULL, '{rule}', NULL, NULL, NULL, NULL,
       CAST(r.id AS VARCHAR(20)), r.definition, NULL, NULL
FROM storage_rule r WHERE r.workspace_id = {workspace5}
UNION ALL
SELECT '{rule_row}', NULL, NULL, NULL, NULL, NULL, '{own_domain}', NULL, NULL, NULL, NULL,
       '{own_domain}', d.domain, NULL, NULL
FROM own_domain d WHERE d.workspace_id = {workspace6}
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
    sql, values = _states_query(workspace_id, wanted)
    rows = await get_connection("default").execute_query_dict(sql, values)
    return _assemble(wanted, rows)


async def states_and_rules(
    workspace_id: int, keys: Iterable[ConversationKey]
) -> tuple[dict[ConversationKey, ConversationState], StorageRules]:
    """The state of each conversation and the workspace's storage rules, in one query."""
    wanted = set(keys)
    sql, values = _states_query(workspace_id, wanted)
    workspaces = placeholders(len(values) + 1, 4)
    sql += _RULES_SQL.format(
        rule_row=_RULE_ROW,
        policy=POLICY_ROW,
        rule=RULE_ROW,
        own_domain=OWN_DOMAIN_ROW,
        workspace3=workspaces[0],
        workspace4=workspaces[1],
        workspace5=workspaces[2],
        workspace6=workspaces[3],
    )
    rows = await get_connection("default").execute_query_dict(sql, [*values, *[workspace_id] * 4])
    rules = storage_rules_of(
        (row["source"], row["first_name"], row["last_name"])
        for row in rows
        if row["row_kind"] == _RULE_ROW
    )
    return _assemble(wanted, rows), rules


def _states_query(workspace_id: int, wanted: set[ConversationKey]) -> tuple[str, list[Any]]:
    # `IN ()` is not SQL: a query without keys asks for an id no conversation has.
    external_ids = sorted({external_id for _, external_id in wanted}) or [""]
    per_select = len(external_ids) + 1
    first, second = placeholders(1, per_select), placeholders(1 + per_select, per_select)
    sql = _STATE_SQL.format(
        workspace1=first[0],
        ids1=", ".join(first[1:]),
        workspace2=second[0],
        ids2=", ".join(second[1:]),
    )
    values: Sequence[Any] = [workspace_id, *external_ids] * 2
    return sql, list(values)


def _assemble(
    wanted: set[ConversationKey], rows: list[dict[str, Any]]
) -> dict[ConversationKey, ConversationState]:
    links: dict[ConversationKey, list[LinkRecord]] = {}
    stored: dict[ConversationKey, dict[str, Any]] = {}
    for row in rows:
        key = (row["account_id"], row["external_id"])
        if row["row_kind"] == _RULE_ROW or key not in wanted:
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

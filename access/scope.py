"""The viewer: the token's user verified against the database, their workspace and the accounts
they may see, read together in one query, and kept across requests while neither the user's row
nor the workspace's accounts change (`crm.caching.user_key`, `workspace_key`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiodataloader import DataLoader
from tortoise.connection import get_connection

from core.errors import Unauthenticated
from core.identity import Identity
from core.vocabulary import IdentifierKind, Role
from crm import Identifier
from crm.caching import VersionedCache, VersionSnapshot, user_key, workspace_key
from db.models import Account, User, Workspace
from db.sql import placeholders

# One round trip: the user must exist in the token's workspace and be active; the accounts are
# those they own and those the workspace shares, less those disconnected (`detached_at`). A user
# without accounts still gives one row.
_SCOPE_SQL = """
SELECT u.role AS viewer_role, w.id AS w_id, w.name AS w_name, w.slug AS w_slug,
       w.default_region AS w_default_region, w.created_at AS w_created_at, a.*
FROM "user" u
JOIN workspace w ON w.id = u.workspace_id
LEFT JOIN account a ON a.workspace_id = u.workspace_id AND (a.owner_id = u.id OR a.shared)
    AND a.detached_at IS NULL
WHERE u.id = {} AND u.workspace_id = {} AND u.is_active
ORDER BY a.id
"""


@dataclass(frozen=True, slots=True)
class ViewerScope:
    """The verified viewer (their role included), their workspace and the accounts they may see."""

    identity: Identity
    workspace: Workspace
    accounts: tuple[Account, ...]

    @property
    def region(self) -> str:
        return self.workspace.default_region

    def own_identifiers(self) -> list[Identifier]:
        return [
            Identifier(IdentifierKind(entry["kind"]), str(entry["value"]))
            for account in self.accounts
            for entry in account.own_identifiers
        ]

    def account(self, account_id: int) -> Account | None:
        return next((account for account in self.accounts if account.id == account_id), None)


@dataclass(frozen=True, slots=True)
class _ScopeRows:
    """What the scope query read: the same for every token of the user."""

    role: Role
    workspace: Workspace
    accounts: tuple[Account, ...]


# Scopes by (user id, workspace id); a refused token's is never kept.
ScopeCache = VersionedCache[tuple[int, int], _ScopeRows]


def scope_keys(identity: Identity) -> list[str]:
    """The version keys a viewer's scope is kept under."""
    return [user_key(identity.user_id), workspace_key(identity.workspace_id)]


async def load_viewer_scope(
    identity: Identity,
    cache: ScopeCache | None = None,
    snapshot: VersionSnapshot | None = None,
) -> ViewerScope | None:
    """The scope of the token's user; None when the user no longer exists or is disabled.

    With a `cache` and the request's `snapshot` of versions, a scope kept under the same versions
    is served without a query."""
    key = (identity.user_id, identity.workspace_id)
    versions = None if snapshot is None else snapshot.of(scope_keys(identity))
    found = None if cache is None else cache.get(key, versions)
    if found is None:
        found = await _read_scope(identity)
        if found is not None and cache is not None:
            cache.put(key, versions, found)
    if found is None:
        return None
    return ViewerScope(replace(identity, role=found.role), found.workspace, found.accounts)


async def _read_scope(identity: Identity) -> _ScopeRows | None:
    sql = _SCOPE_SQL.format(*placeholders(1, 2))
    rows = await get_connection("default").execute_query_dict(
        sql, [identity.user_id, identity.workspace_id]
    )
    if not rows:
        return None
    first = rows[0]
    workspace = _workspace(first)
    accounts = tuple(_account(row, workspace) for row in rows if row["id"] is not None)
    return _ScopeRows(Role(first["viewer_role"]), workspace, accounts)


def _workspace(row: dict[str, Any]) -> Workspace:
    return Workspace._init_from_db(
        id=row["w_id"],
        name=row["w_name"],
        slug=row["w_slug"],
        default_region=row["w_default_region"],
        created_at=row["w_created_at"],
    )


def _account(row: dict[str, Any], workspace: Workspace) -> Account:
    account = Account._init_from_db(**row)
    account.workspace = workspace
    return account


async def viewer_user(identity: Identity) -> User:
    user = await User.get_or_none(
        id=identity.user_id, workspace_id=identity.workspace_id, is_active=True
    )
    if user is None:
        raise Unauthenticated("the token's user no longer exists or is disabled")
    return user


class UserByIdLoader(DataLoader[int, User | None]):
    """Users of one workspace by primary key, in one query per batch; others load as None."""

    def __init__(self, workspace_id: int) -> None:
        super().__init__()
        self.workspace_id = workspace_id

    async def batch_load_fn(self, keys: Sequence[int]) -> list[User | None]:
        users = await User.filter(workspace_id=self.workspace_id, id__in=list(keys))
        by_id = {user.id: user for user in users}
        return [by_id.get(key) for key in keys]

"""The viewer: the token's user verified against the database, their workspace and the accounts
they may see, read together in one query per operation, with the versions of what the workspace
keeps read across requests (`crm.caching`).

The scope itself is never kept: it is what makes a token worth only what its user is now, whatever
changed the user's row, and the one query a warm page costs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

import orjson
from aiodataloader import DataLoader
from tortoise.connection import get_connection

from core.errors import Unauthenticated
from core.identity import Identity
from core.vocabulary import IdentifierKind, Role
from crm import Identifier
from crm.caching import Kept
from db.models import Account, User, Workspace
from db.sql import placeholders

# One round trip: the user must exist in the token's workspace and be active; the accounts are
# those they own and those the workspace shares, less those disconnected (`detached_at`). A user
# without accounts still gives one row.
_SCOPE_SQL = """
SELECT u.role AS viewer_role, w.id AS w_id, w.name AS w_name, w.slug AS w_slug,
       w.default_region AS w_default_region, w.created_at AS w_created_at,
       w.rules_version AS w_rules_version, w.crm_version AS w_crm_version,
       w.stored_version AS w_stored_version, a.*
FROM "user" u
JOIN workspace w ON w.id = u.workspace_id
LEFT JOIN account a ON a.workspace_id = u.workspace_id AND (a.owner_id = u.id OR a.shared)
    AND a.detached_at IS NULL
WHERE u.id = {} AND u.workspace_id = {} AND u.is_active
ORDER BY a.id
"""


class ViewerScope:
    """The verified viewer (their role included), their workspace and the accounts they may see.

    The workspace and accounts are built from the rows when first asked for: an answer given
    again (`server.kept_responses`) needs only `read_as`."""

    def __init__(self, identity: Identity, rows: list[dict[str, Any]]) -> None:
        self.identity = identity
        self._rows = rows

    @cached_property
    def read_as(self) -> bytes:
        """The rows as one value: equal exactly when the viewer, their workspace's versions and
        their accounts are (encoded only when an answer may be kept or given again)."""
        return orjson.dumps(self._rows, default=str)

    @cached_property
    def workspace(self) -> Workspace:
        return _workspace(self._rows[0])

    @cached_property
    def accounts(self) -> tuple[Account, ...]:
        workspace = self.workspace
        return tuple(_account(row, workspace) for row in self._rows if row["id"] is not None)

    @property
    def region(self) -> str:
        return self.workspace.default_region

    def own_identifiers(self) -> list[Identifier]:
        return [
            Identifier(IdentifierKind(entry["kind"]), str(entry["value"]))
            for account in self.accounts
            for entry in account.own_identifiers
        ]

    def versions(self, *kept: Kept) -> tuple[int, ...]:
        """The versions of what the workspace keeps of each of `kept`, as of this request."""
        return tuple(int(getattr(self.workspace, each.value)) for each in kept)

    def account(self, account_id: int) -> Account | None:
        return next((account for account in self.accounts if account.id == account_id), None)


async def load_viewer_scope(identity: Identity) -> ViewerScope | None:
    """The scope of the token's user; None when the user no longer exists or is disabled."""
    sql = _SCOPE_SQL.format(*placeholders(1, 2))
    rows = await get_connection("default").execute_query_dict(
        sql, [identity.user_id, identity.workspace_id]
    )
    if not rows:
        return None
    verified = replace(identity, role=Role(rows[0]["viewer_role"]))
    return ViewerScope(verified, rows)


def _workspace(row: dict[str, Any]) -> Workspace:
    return Workspace._init_from_db(
        id=row["w_id"],
        name=row["w_name"],
        slug=row["w_slug"],
        default_region=row["w_default_region"],
        created_at=row["w_created_at"],
        rules_version=row["w_rules_version"],
        crm_version=row["w_crm_version"],
        stored_version=row["w_stored_version"],
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

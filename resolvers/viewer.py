"""The viewer, their workspace and the accounts they may see."""

from __future__ import annotations

from tortoise.expressions import Q

from core.errors import Unauthenticated
from db.models import User, Workspace
from server.auth import Identity


async def viewer_user(identity: Identity) -> User:
    user = await User.get_or_none(id=identity.user_id, workspace_id=identity.workspace_id)
    if user is None:
        raise Unauthenticated("the token's user no longer exists")
    return user


async def viewer_workspace(identity: Identity) -> Workspace:
    return await Workspace.get(id=identity.workspace_id)


def visible_accounts_query(identity: Identity) -> Q:
    """Accounts the viewer owns, or that are shared with their workspace."""
    return Q(workspace_id=identity.workspace_id) & (Q(owner_id=identity.user_id) | Q(shared=True))

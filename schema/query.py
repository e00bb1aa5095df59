"""The root query."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import viewer as viewer_resolvers
from resolvers.context import Context
from schema.viewer import Account, User, Viewer, Workspace


@strawberry.type
class Query:
    @strawberry.field(description="The authenticated user and their workspace.")
    async def viewer(self, info: Info[Context, None]) -> Viewer:
        identity = info.context.viewer()
        user = await viewer_resolvers.viewer_user(identity)
        workspace = await viewer_resolvers.viewer_workspace(identity)
        return Viewer(user=User.from_model(user), workspace=Workspace.from_model(workspace))

    @strawberry.field(
        description="The accounts the viewer may use: their own and those shared with the workspace."
    )
    async def accounts(self, info: Info[Context, None]) -> list[Account]:
        identity = info.context.viewer()
        accounts = await viewer_resolvers.visible_accounts(identity)
        return [Account.from_model(account, identity.user_id) for account in accounts]

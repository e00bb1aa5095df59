"""The root query."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from access import scope as viewer_resolvers
from core.errors import BadUserInput
from core.ids import from_global_id
from core.version import SWITCHBOARD_VERSION
from inbox.conversations import conversation_key
from resolvers.context import Context
from resolvers.conversations import conversation_by_key, inbox_page
from schema.crm import CrmQuery
from schema.inbox import Conversation, ConversationConnection, ConversationFilter, inbox_filter
from schema.node import Node
from schema.nodes import resolve_node, resolve_nodes
from schema.storage_rules import StorageRulesQuery
from schema.viewer import Account, User, Viewer, Workspace

MAX_NODES = 100


@strawberry.type
class Query(CrmQuery, StorageRulesQuery):
    @strawberry.field(description="The running server's version (what `/healthz` reports).")
    def version(self) -> str:
        return SWITCHBOARD_VERSION

    @strawberry.field(description="The authenticated user and their workspace.")
    async def viewer(self, info: Info[Context, None]) -> Viewer:
        scope = await info.context.scope()
        user = await viewer_resolvers.viewer_user(scope.identity)
        return Viewer(user=User.from_model(user), workspace=Workspace.from_model(scope.workspace))

    @strawberry.field(
        description="The accounts the viewer may use: their own and those the workspace shares."
    )
    async def accounts(self, info: Info[Context, None]) -> list[Account]:
        scope = await info.context.scope()
        return [Account.from_model(account, scope.identity.user_id) for account in scope.accounts]

    @strawberry.field(
        description=(
            "One inbox over every account the viewer may see, newest activity first, read live "
            "from UniPile. `first` is 1 to 100 (default 20). An account that fails upstream is "
            "named in an error and served from its last good page or its stored conversations "
            "(`source`); the others are live."
        )
    )
    async def conversations(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: ConversationFilter | None = None,
    ) -> ConversationConnection:
        page = await inbox_page(info.context, first, after, inbox_filter(filter))
        return ConversationConnection.from_page(page, info.context.viewer().user_id)

    @strawberry.field(
        description=(
            "One conversation by id, live; null if missing or not the viewer's. While its "
            "account fails upstream, a stored one is served from its copy (`source: STORED`) "
            "next to the error naming the account."
        )
    )
    async def conversation(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> Conversation | None:
        info.context.viewer()
        type_name, key = from_global_id(id)
        parsed = conversation_key(key) if type_name == "Conversation" else None
        facts = None if parsed is None else await conversation_by_key(info.context, *parsed)
        return (
            None if facts is None else Conversation.from_facts(facts, info.context.viewer().user_id)
        )

    @strawberry.field(
        description="Any object by global id; null if it does not exist or is not the viewer's."
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        return await resolve_node(info.context, id)

    @strawberry.field(description=f"Objects by global id, in order; at most {MAX_NODES}.")
    async def nodes(self, info: Info[Context, None], ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_NODES:
            raise BadUserInput(f"at most {MAX_NODES} ids at once", argument="ids")
        return await resolve_nodes(info.context, ids)

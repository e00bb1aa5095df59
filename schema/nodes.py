"""Refetching any object by its global id, as `node(id:)` and `nodes(ids:)` do.

An id the viewer may not see resolves exactly like one that does not exist: to null.

`resolve_nodes` loads its ids by type, in batches: contacts, companies and users each in one query
through the request's loaders, whatever their number; accounts and the workspace come from the
viewer's scope, already loaded; conversations and messages are read from UniPile one by one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from core.errors import BadUserInput
from core.ids import from_global_id, primary_key
from inbox.conversations import conversation_key
from resolvers.context import Context
from resolvers.conversations import conversation_by_key
from resolvers.messages import message_by_key
from schema.crm import company_nodes, contact_nodes
from schema.inbox import Conversation, Message
from schema.node import Node
from schema.viewer import Account, User, Workspace

Resolver = Callable[[Context, str], Awaitable[Node | None]]
BatchResolver = Callable[[Context, Sequence[int]], Awaitable[Sequence[Node | None]]]


async def _account(context: Context, key: str) -> Node | None:
    scope = await context.scope()
    pk = primary_key(key)
    account = None if pk is None else scope.account(pk)
    return None if account is None else Account.from_model(account, scope.identity.user_id)


async def _workspace(context: Context, key: str) -> Node | None:
    scope = await context.scope()
    if scope.workspace is None or key != str(scope.identity.workspace_id):
        return None
    return Workspace.from_model(scope.workspace)


async def _conversation(context: Context, key: str) -> Node | None:
    parsed = conversation_key(key)
    facts = None if parsed is None else await conversation_by_key(context, *parsed)
    return None if facts is None else Conversation.from_facts(facts, context.viewer().user_id)


async def _message(context: Context, key: str) -> Node | None:
    facts = await message_by_key(context, key)
    return None if facts is None else Message.from_facts(facts)


async def _users(context: Context, keys: Sequence[int]) -> list[Node | None]:
    loaders = await context.loaders()
    users = await loaders.user_by_id.load_many(keys)
    return [None if user is None else User.from_model(user) for user in users]


async def _contacts(context: Context, keys: Sequence[int]) -> list[Node | None]:
    return [*await contact_nodes((await context.loaders()).contact_by_id, keys)]


async def _companies(context: Context, keys: Sequence[int]) -> list[Node | None]:
    return [*await company_nodes((await context.loaders()).company_by_id, keys)]


# One by one: from the scope (no query), or from UniPile (as `node(id:)` always did).
_RESOLVERS: dict[str, Resolver] = {
    "Account": _account,
    "Workspace": _workspace,
    "Conversation": _conversation,
    "Message": _message,
}
# By primary key, one batch per type.
_BATCHES: dict[str, BatchResolver] = {
    "User": _users,
    "Contact": _contacts,
    "Company": _companies,
}


async def resolve_node(context: Context, global_id: str) -> Node | None:
    [found] = await resolve_nodes(context, [global_id])
    return found


async def resolve_nodes(context: Context, global_ids: Sequence[str]) -> list[Node | None]:
    """The objects of `global_ids`, in order, None for those the viewer may not see."""
    context.viewer()
    found: list[Node | None] = [None] * len(global_ids)
    batches: dict[str, list[tuple[int, int]]] = {}
    for index, global_id in enumerate(global_ids):
        try:
            type_name, key = from_global_id(global_id)
        except BadUserInput:
            continue
        if type_name in _BATCHES:
            pk = primary_key(key)
            if pk is not None:
                batches.setdefault(type_name, []).append((index, pk))
            continue
        resolver = _RESOLVERS.get(type_name)
        if resolver is not None:
            found[index] = await resolver(context, key)
    for type_name, wanted in batches.items():
        nodes = await _BATCHES[type_name](context, [pk for _, pk in wanted])
        for (index, _), node in zip(wanted, nodes, strict=True):
            found[index] = node
    return found

"""Refetching any object by its global id, as `node(id:)` does.

An id the viewer may not see resolves exactly like one that does not exist: to null.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.errors import BadUserInput
from db.models import User as UserModel
from resolvers.context import Context
from resolvers.conversations import conversation_by_key, conversation_key
from resolvers.crm import CompanyByIdLoader, ContactByIdLoader
from resolvers.messages import message_by_key
from schema.crm import company_node, contact_node
from schema.ids import from_global_id, primary_key
from schema.node import Node
from schema.viewer import Account, User, Workspace


async def _account(context: Context, key: str) -> Node | None:
    scope = await context.scope()
    pk = primary_key(key)
    account = None if pk is None else scope.account(pk)
    return None if account is None else Account.from_model(account, scope.identity.user_id)


async def _user(context: Context, key: str) -> Node | None:
    identity = context.viewer()
    pk = primary_key(key)
    user = (
        None
        if pk is None
        else await UserModel.get_or_none(id=pk, workspace_id=identity.workspace_id)
    )
    return None if user is None else User.from_model(user)


async def _workspace(context: Context, key: str) -> Node | None:
    scope = await context.scope()
    if scope.workspace is None or key != str(scope.identity.workspace_id):
        return None
    return Workspace.from_model(scope.workspace)


async def _conversation(context: Context, key: str) -> Node | None:
    parsed = conversation_key(key)
    return None if parsed is None else await conversation_by_key(context, *parsed)


async def _contact(context: Context, key: str) -> Node | None:
    pk = primary_key(key)
    if pk is None:
        return None
    return await contact_node(ContactByIdLoader(context.viewer().workspace_id), pk)


async def _company(context: Context, key: str) -> Node | None:
    pk = primary_key(key)
    if pk is None:
        return None
    return await company_node(CompanyByIdLoader(context.viewer().workspace_id), pk)


async def _message(context: Context, key: str) -> Node | None:
    return await message_by_key(context, key)


_RESOLVERS: dict[str, Callable[[Context, str], Awaitable[Node | None]]] = {
    "Account": _account,
    "User": _user,
    "Workspace": _workspace,
    "Conversation": _conversation,
    "Message": _message,
    "Contact": _contact,
    "Company": _company,
}


async def resolve_node(context: Context, global_id: str) -> Node | None:
    context.viewer()
    try:
        type_name, key = from_global_id(global_id)
    except BadUserInput:
        return None
    resolver = _RESOLVERS.get(type_name)
    return None if resolver is None else await resolver(context, key)

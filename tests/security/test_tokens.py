"""A token is worth only what its user is now: deleted, disabled or moved users are refused.

Over HTTP every operation answers UNAUTHENTICATED and does nothing; over WebSocket the
`connection_init` is refused by closing the socket with 4403. The same token works while its
user exists and is active (the positive control).
"""

from __future__ import annotations

from typing import Any

import httpx
import websockets

from core.vocabulary import Role
from db.models import Contact, User
from tests.graphql_ws import LEGACY_WS, subscribe
from tests.security.conftest import (
    DAVE_WHATSAPP,
    RIVAL,
    RIVAL_SLUG,
    Tenants,
    a_chat,
    error_codes,
    gid,
)

MESSAGES = """subscription { messageReceived { message { id text } conversation { id } } }"""
VIEWER = "{ viewer { user { email } workspace { slug } } }"


def operations(tenants: Tenants) -> list[tuple[str, dict[str, Any]]]:
    dave_chat = tenants.conversation(DAVE_WHATSAPP, a_chat(RIVAL, DAVE_WHATSAPP)["id"])
    return [
        (VIEWER, {}),
        ("{ accounts { id externalId } }", {}),
        ("{ conversations(first: 5) { edges { node { id externalId } } } }", {}),
        ("{ contacts(first: 5) { totalCount edges { node { id name } } } }", {}),
        (
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": gid("Workspace", tenants.workspaces[RIVAL_SLUG])},
        ),
        (
            "query($id: ID!) { conversation(id: $id) { id messages { edges { node { text } } } } }",
            {"id": dave_chat},
        ),
        (
            'mutation { createContact(input: {firstName: "Ghost", lastName: "Writer"}) {'
            " contact { id } error { code } } }",
            {},
        ),
        (
            'mutation($id: ID!) { sendMessage(input: {conversationId: $id, text: "ghost"}) {'
            " message { id } error { code } } }",
            {"id": dave_chat},
        ),
    ]


async def http_refusals(tenants: Tenants, token: str) -> list[str]:
    """Why each operation with `token` was not refused as UNAUTHENTICATED (empty: all were)."""
    failures = []
    for query, variables in operations(tenants):
        response = await tenants.post({"query": query, "variables": variables}, token)
        body = response.json()
        codes = error_codes(body)
        data = body.get("data") or {}
        if (
            not codes
            or set(codes) != {"UNAUTHENTICATED"}
            or any(v is not None for v in data.values())
        ):
            failures.append(f"{query[:50]!r}: HTTP {response.status_code} {body}")
    async with httpx.AsyncClient(base_url=tenants.url) as client:
        headers = {"Authorization": f"Bearer {token}"}
        response = await client.get("/graphql", params={"query": VIEWER}, headers=headers)
    if set(error_codes(response.json())) != {"UNAUTHENTICATED"}:
        failures.append(f"GET: {response.status_code} {response.text}")
    return failures


async def ws_refusal(tenants: Tenants, token: str) -> str | None:
    """Why `connection_init` with `token` was not refused by a 4403 close (None: it was)."""
    try:
        async with tenants.socket(token=token) as socket:
            await socket.subscribe(MESSAGES)
            await socket.drain(0.5)
            return f"acknowledged, then received {dict(socket.received)}"
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        return None if code == 4403 else f"closed with {code}"
    except ConnectionRefusedError as refused:
        return f"refused by a message, not a 4403 close: {refused}"


async def legacy_ws_refusal(tenants: Tenants, token: str) -> str | None:
    """graphql-ws has no close code for it: the connection must not be acknowledged."""
    try:
        async with subscribe(tenants.url, token, MESSAGES, protocol=LEGACY_WS) as live:
            if await live.nothing_within(0.5):
                return "acknowledged"
            return "acknowledged and received data"
    except (websockets.ConnectionClosed, ConnectionRefusedError):
        return None


async def works(tenants: Tenants, token: str, email: str) -> None:
    """The positive control: the token is accepted over HTTP and WebSocket."""
    result = (await tenants.post({"query": VIEWER}, token)).json()
    assert result["data"]["viewer"]["user"]["email"] == email, result
    async with tenants.socket(token=token) as socket:
        await socket.subscribe(MESSAGES)


async def all_refusals(tenants: Tenants, token: str) -> list[str]:
    failures = await http_refusals(tenants, token)
    if why := await ws_refusal(tenants, token):
        failures.append(f"graphql-transport-ws: {why}")
    if why := await legacy_ws_refusal(tenants, token):
        failures.append(f"graphql-ws: {why}")
    return failures


async def test_a_deleted_users_token_is_refused(tenants: Tenants) -> None:
    erin = await User.create(
        workspace_id=tenants.workspaces[RIVAL_SLUG],
        email="erin@rival.switchboard.test",
        name="Erin",
        role=Role.ADMIN,
    )
    token = tenants.token_for(erin.id, erin.workspace_id)
    await works(tenants, token, erin.email)
    await User.filter(id=erin.id).delete()
    await tenants.reset_stats()
    failures = await all_refusals(tenants, token)
    assert not await Contact.filter(first_name="Ghost").exists()
    assert "POST /api/v1/chats/{chat_id}/messages" not in await tenants.route_stats()
    assert not failures, "\n".join(failures)


async def test_a_disabled_users_token_is_refused_until_enabled_again(tenants: Tenants) -> None:
    token = tenants.tokens["dave"]
    await works(tenants, token, "dave@rival.switchboard.test")
    await User.filter(id=tenants.users["dave"]).update(is_active=False)
    await tenants.reset_stats()
    failures = await all_refusals(tenants, token)
    stats = await tenants.route_stats()
    assert not await Contact.filter(first_name="Ghost").exists()
    if stats:
        failures.append(f"UniPile was called for a disabled user: {stats}")
    assert not failures, "\n".join(failures)
    await User.filter(id=tenants.users["dave"]).update(is_active=True)
    await works(tenants, token, "dave@rival.switchboard.test")


async def test_a_token_naming_a_workspace_its_user_left_is_refused(tenants: Tenants) -> None:
    frank = await User.create(
        workspace_id=tenants.workspaces["demo"], email="frank@demo.switchboard.test", name="Frank"
    )
    token = tenants.token_for(frank.id, frank.workspace_id)
    await works(tenants, token, frank.email)
    await User.filter(id=frank.id).update(workspace_id=tenants.workspaces[RIVAL_SLUG])
    failures = await all_refusals(tenants, token)
    assert not failures, "\n".join(failures)


async def test_an_open_subscription_delivers_nothing_once_its_user_is_disabled(
    tenants: Tenants,
) -> None:
    chat = a_chat(RIVAL, DAVE_WHATSAPP)["id"]
    body = {"account_id": DAVE_WHATSAPP, "chat_id": chat}
    async with tenants.socket("dave") as socket:
        sid = await socket.subscribe(MESSAGES)
        await socket.drain(0.5)
        await tenants.sandbox_post("/_sandbox/messages", {**body, "text": "while active"})
        await socket.wait_for(sid)
        await User.filter(id=tenants.users["dave"]).update(is_active=False)
        await tenants.sandbox_post("/_sandbox/messages", {**body, "text": "after disabling"})
        try:
            await socket.drain(1.5)
        except websockets.ConnectionClosed:
            pass
    texts = [
        p["data"]["messageReceived"]["message"]["text"]
        for p in socket.received[sid]
        if p.get("data")
    ]
    assert texts[0] == "while active"
    assert "after disabling" not in texts, socket.received[sid]

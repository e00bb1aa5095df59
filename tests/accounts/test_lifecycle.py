"""shareAccount, unshareAccount, disconnectAccount and reconnectAccount over the served app, with
the owner, an admin, a member and another workspace's admin as the actors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from core.ids import to_global_id
from core.vocabulary import AccountStatus, ReceiptState
from db.models import Account, Conversation, WebhookReceipt
from tests.accounts.conftest import Connected
from tests.inbox.conftest import SANDBOX_KEY, WEBHOOK_SECRET

FIELDS = "account { id shared status } error { code message field }"
SHARE = f"mutation($input: AccountInput!) {{ shareAccount(input: $input) {{ {FIELDS} }} }}"
UNSHARE = f"mutation($input: AccountInput!) {{ unshareAccount(input: $input) {{ {FIELDS} }} }}"
DISCONNECT = f"""mutation($input: DisconnectAccountInput!) {{
  disconnectAccount(input: $input) {{ {FIELDS} }} }}"""
RECONNECT = """mutation($input: AccountInput!) {
  reconnectAccount(input: $input) { url expiresAt error { code message field } } }"""
STORE = """mutation($id: ID!) { storeConversation(input: {conversationId: $id}) {
  conversation { id } error { code } } }"""
FIRST_CONVERSATION = """query($ids: [ID!]) { conversations(first: 1, filter: {accountIds: $ids})
  { edges { node { id } } } }"""
INBOX_ACCOUNTS = "{ conversations(first: 100) { edges { node { account { id } } } } }"


async def _run(connected: Connected, mutation: str, user: str, **given: Any) -> dict[str, Any]:
    result = await connected.query(mutation, {"input": given}, user)
    assert "errors" not in result, result
    payload: dict[str, Any] = next(iter(result["data"].values()))
    return payload


def _code(payload: dict[str, Any]) -> str | None:
    return None if payload["error"] is None else str(payload["error"]["code"])


async def test_share_and_unshare(connected: Connected) -> None:
    alices = await connected.connect("WHATSAPP")
    bobs = await connected.connect("LINKEDIN", user="bob")
    # A member may not share a colleague's account; another workspace cannot name it at all.
    assert _code(await _run(connected, SHARE, "bob", accountId=alices["id"])) == "FORBIDDEN"
    assert _code(await _run(connected, SHARE, "eve", accountId=alices["id"])) == "NOT_FOUND"
    assert alices["externalId"] not in {a["externalId"] for a in await connected.accounts("bob")}
    shared = await _run(connected, SHARE, "alice", accountId=alices["id"])
    assert shared["error"] is None and shared["account"]["shared"]
    assert alices["externalId"] in {a["externalId"] for a in await connected.accounts("bob")}
    assert _code(await _run(connected, UNSHARE, "bob", accountId=alices["id"])) == "FORBIDDEN"
    # The owner (a member) shares their own; an admin may unshare it.
    assert (await _run(connected, SHARE, "bob", accountId=bobs["id"]))["account"]["shared"]
    unshared = await _run(connected, UNSHARE, "alice", accountId=bobs["id"])
    assert unshared["error"] is None and not unshared["account"]["shared"]
    assert not (await Account.get(unipile_id=bobs["externalId"])).shared
    assert (await Account.get(unipile_id=alices["externalId"])).shared


async def test_bad_account_ids_are_bad_input(connected: Connected) -> None:
    for bad in ("x" * 10_000, "../accounts", to_global_id("Company", 1), "", "\u0000"):
        payload = await _run(connected, SHARE, "alice", accountId=bad)
        assert _code(payload) == "BAD_USER_INPUT", (bad[:20], payload)
    missing = await _run(connected, DISCONNECT, "alice", accountId=to_global_id("Account", 99999))
    assert _code(missing) == "NOT_FOUND"


async def test_disconnect_keeps_stored_conversations(connected: Connected) -> None:
    account = await connected.connect("WHATSAPP")
    first = await connected.query(FIRST_CONVERSATION, {"ids": [account["id"]]})
    conversation_id = first["data"]["conversations"]["edges"][0]["node"]["id"]
    stored = await connected.query(STORE, {"id": conversation_id})
    assert stored["data"]["storeConversation"]["error"] is None
    for actor, code in (("bob", "FORBIDDEN"), ("eve", "NOT_FOUND")):
        assert _code(await _run(connected, DISCONNECT, actor, accountId=account["id"])) == code
    assert (await Account.get(unipile_id=account["externalId"])).detached_at is None

    done = await _run(connected, DISCONNECT, "alice", accountId=account["id"])
    assert done["error"] is None and done["account"]["id"] == account["id"]
    assert account["id"] not in {a["id"] for a in await connected.accounts("alice")}
    edges = (await connected.query(INBOX_ACCOUNTS))["data"]["conversations"]["edges"]
    assert account["id"] not in {edge["node"]["account"]["id"] for edge in edges}
    row = await Account.get(unipile_id=account["externalId"])
    assert row.detached_at is not None and await Conversation.filter(account_id=row.id).exists()
    again = await _run(connected, DISCONNECT, "alice", accountId=account["id"])
    assert _code(again) == "NOT_FOUND"


async def test_detached_accounts_webhooks_are_ignored(connected: Connected) -> None:
    account = await connected.connect("WHATSAPP")
    await _run(connected, DISCONNECT, "alice", accountId=account["id"])
    event = {"AccountStatus": {"account_id": account["externalId"], "message": "CREDENTIALS"}}
    async with httpx.AsyncClient(base_url=connected.url) as client:
        sent = await client.post(
            "/webhooks/unipile", json=event, headers={"Unipile-Auth": WEBHOOK_SECRET}
        )
    assert sent.status_code == 200
    for _ in range(40):
        if not await _pending_receipts():
            break
        await asyncio.sleep(0.05)
    assert (await Account.get(unipile_id=account["externalId"])).status is AccountStatus.OK


async def _pending_receipts() -> bool:
    return await WebhookReceipt.filter(state=ReceiptState.PENDING).exists()


async def test_disconnect_deleting_at_unipile(connected: Connected) -> None:
    account = await connected.connect("WHATSAPP")
    async with httpx.AsyncClient(base_url=connected.sandbox) as sandbox:
        await sandbox.post("/_sandbox/faults", json={"error_rate": 1.0})
        failed = await _run(
            connected, DISCONNECT, "alice", accountId=account["id"], deleteAtUnipile=True
        )
        await sandbox.post("/_sandbox/faults", json={"error_rate": 0.0})
        assert _code(failed) == "UPSTREAM_UNAVAILABLE" and failed["account"] is None
        assert "stays connected" in failed["error"]["message"]
        assert account["id"] in {a["id"] for a in await connected.accounts("alice")}
        done = await _run(
            connected, DISCONNECT, "alice", accountId=account["id"], deleteAtUnipile=True
        )
        assert done["error"] is None
        gone = await sandbox.get(
            f"/api/v1/accounts/{account['externalId']}", headers={"X-API-KEY": SANDBOX_KEY}
        )
    assert gone.status_code == 404


async def test_reconnect(connected: Connected) -> None:
    account = await connected.connect("WHATSAPP")
    ok = await _run(connected, RECONNECT, "alice", accountId=account["id"])
    assert _code(ok) == "CONFLICT" and ok["url"] is None
    async with httpx.AsyncClient(base_url=connected.sandbox) as sandbox:
        await sandbox.post(
            f"/_sandbox/accounts/{account['externalId']}/status", json={"status": "CREDENTIALS"}
        )
    await Account.filter(unipile_id=account["externalId"]).update(status=AccountStatus.CREDENTIALS)
    for actor, code in (("bob", "FORBIDDEN"), ("eve", "NOT_FOUND")):
        assert _code(await _run(connected, RECONNECT, actor, accountId=account["id"])) == code
    link = await _run(connected, RECONNECT, "alice", accountId=account["id"])
    assert link["error"] is None
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.post(link["url"], json={})
    assert page.status_code == 200, page.text
    for _ in range(100):
        if (await Account.get(unipile_id=account["externalId"])).status is AccountStatus.OK:
            break
        await asyncio.sleep(0.05)
    assert (await connected.wait_for_account(account["externalId"]))["status"] == "OK"
    assert await Account.filter(unipile_id=account["externalId"]).count() == 1


async def _reconnect_through_hosted_auth(connected: Connected, account: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=connected.sandbox) as sandbox:
        await sandbox.post(
            f"/_sandbox/accounts/{account['externalId']}/status", json={"status": "CREDENTIALS"}
        )
    await Account.filter(unipile_id=account["externalId"]).update(status=AccountStatus.CREDENTIALS)
    link = await _run(connected, RECONNECT, "alice", accountId=account["id"])
    async with httpx.AsyncClient(timeout=30) as browser:
        assert (await browser.post(link["url"], json={})).status_code == 200
    assert (await connected.wait_for_account(account["externalId"]))["status"] == "OK"


async def _list_calls(connected: Connected, account: dict[str, Any]) -> int:
    """The account's chat list calls for one inbox page of it."""
    await connected.upstream_stats()
    result = await connected.query(FIRST_CONVERSATION, {"ids": [account["id"]]})
    assert "errors" not in result, result
    stats = await connected.upstream_stats()
    return int(stats["requests"].get("GET /api/v1/chats", 0))


@pytest.mark.parametrize("connected", [60], indirect=True, ids=["cached"])
async def test_a_reconnected_accounts_lists_are_read_again(connected: Connected) -> None:
    """Its lists, cached while it failed, are read fresh once hosted auth reconnects it."""
    account = await connected.connect("WHATSAPP")
    assert await _list_calls(connected, account) == 1
    assert await _list_calls(connected, account) == 0, "the page is cached"
    await _reconnect_through_hosted_auth(connected, account)
    assert await _list_calls(connected, account) == 1

"""connectAccount and UniPile's callback, end to end: the sandbox's hosted-auth page connects an
account and calls the served app back over HTTP; then the refusals of forged, expired, repeated
and foreign callbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from accounts import CALLBACK_GRACE, ReferenceSeal
from core.vocabulary import Channel, HostedAuthKind
from db.models import Account, HostedAuthLink, User, Workspace
from server.demo import DEMO_USERS
from server.hosted_auth import HOSTED_AUTH_PATH
from tests.accounts.conftest import CONNECT, Connected
from tests.graphql_ws import subscribe
from tests.inbox.conftest import SANDBOX_KEY, SIGNING_KEY
from unipile import UnipileClient

ALICE, BOB, EVE = DEMO_USERS["alice"][0], DEMO_USERS["bob"][0], "eve@other.test"

INBOX = """query($ids: [ID!]) { conversations(first: 5, filter: {accountIds: $ids}) {
  edges { node { id account { id } } } } }"""
STATUS = "subscription { accountStatusChanged { externalId status } }"


async def _inbox(connected: Connected, account_id: str, user: str = "alice") -> list[Any]:
    result = await connected.query(INBOX, {"ids": [account_id]}, user)
    assert "errors" not in result, result
    edges: list[Any] = result["data"]["conversations"]["edges"]
    return edges


async def test_whatsapp_and_gmail_connected_through_the_hosted_page(connected: Connected) -> None:
    whatsapp = await connected.connect("WHATSAPP")
    gmail = await connected.connect("GOOGLE")
    assert (whatsapp["channel"], whatsapp["provider"]) == ("WHATSAPP", "WHATSAPP")
    assert (gmail["channel"], gmail["provider"]) == ("EMAIL", "GOOGLE_OAUTH")
    for account in (whatsapp, gmail):
        assert account["status"] == "OK" and account["isMine"] and not account["shared"]
        edges = await _inbox(connected, account["id"])
        assert edges and all(edge["node"]["account"]["id"] == account["id"] for edge in edges)
    # alice's, not shared: bob sees neither, nor does another workspace.
    for user in ("bob", "eve"):
        seen = {a["externalId"] for a in await connected.accounts(user)}
        assert not seen & {whatsapp["externalId"], gmail["externalId"]}
    owner = await User.get(email=DEMO_USERS["alice"][0])
    stored = await Account.get(unipile_id=whatsapp["externalId"])
    assert stored.owner_id == owner.id and stored.own_identifiers


async def test_connecting_announces_the_account_status(connected: Connected) -> None:
    async with subscribe(connected.url, connected.tokens["alice"], STATUS) as live:
        account = await connected.connect("WHATSAPP")
        event = await live.next(10)
    assert event["data"]["accountStatusChanged"] == {
        "externalId": account["externalId"],
        "status": "OK",
    }


async def test_link_records_the_user_and_providers(connected: Connected) -> None:
    result = await connected.query(CONNECT, {"input": {"providers": ["LINKEDIN", "LINKEDIN"]}})
    payload = result["data"]["connectAccount"]
    assert payload["error"] is None and payload["url"].startswith(connected.sandbox)
    link = await HostedAuthLink.get()
    owner = await User.get(email=DEMO_USERS["alice"][0])
    assert (link.user_id, link.kind, link.providers) == (
        owner.id,
        HostedAuthKind.CREATE,
        ["LINKEDIN"],
    )
    expires = datetime.fromisoformat(payload["expiresAt"])
    assert abs(expires - link.expires_at) < timedelta(seconds=1)


async def _link(user_email: str, *, expires_in: timedelta, account: Account | None = None) -> str:
    """A link row made as connectAccount makes one; its name, sealed as the server seals it."""
    user = await User.get(email=user_email)
    link = await HostedAuthLink.create(
        reference=f"ref-{user.id}-{expires_in.total_seconds():.0f}-{account and account.id}",
        workspace_id=user.workspace_id,
        user_id=user.id,
        kind=HostedAuthKind.CREATE if account is None else HostedAuthKind.RECONNECT,
        account=account,
        expires_at=datetime.now(UTC) + expires_in,
    )
    return ReferenceSeal(SIGNING_KEY).seal(link.reference)


async def _free_upstream_account(connected: Connected, name: str = "forged.signature") -> str:
    """An account connected at UniPile through a link this server did not issue: its callback,
    under a name the server never sealed, attaches nothing, so the account stays free."""
    async with httpx.AsyncClient(timeout=30) as http:
        client = UnipileClient(http, connected.sandbox, SANDBOX_KEY)
        url = await client.create_hosted_auth_link(
            kind="create",
            expires_on=datetime.now(UTC) + timedelta(minutes=5),
            api_url=connected.sandbox,
            providers=["WHATSAPP"],
            name=name,
            notify_url=connected.url + HOSTED_AUTH_PATH,
        )
        page = await http.post(url, json={"provider": "WHATSAPP"})
    return str(page.json()["account_id"])


def _callback(name: str, account_id: str, status: str = "CREATION_SUCCESS") -> dict[str, str]:
    return {"status": status, "account_id": account_id, "name": name}


async def test_forged_reference_attaches_nothing(connected: Connected) -> None:
    free = await _free_upstream_account(connected)
    forged = await _link(ALICE, expires_in=timedelta(minutes=5))
    reference = forged.rpartition(".")[0]
    for name in ("forged.signature", reference, f"{reference}.AAAA", f"{reference}.\ud800", ""):
        response = await connected.callback(_callback(name, free))
        assert response.status_code in (400, 403), (name, response.text)
    assert not await Account.filter(unipile_id=free).exists()
    assert await HostedAuthLink.filter(completed_at__isnull=False).count() == 0


async def test_expired_link_is_gone_and_the_grace_lets_a_late_callback_in(
    connected: Connected,
) -> None:
    free = await _free_upstream_account(connected)
    expired = await _link(ALICE, expires_in=-(CALLBACK_GRACE + timedelta(minutes=1)))
    response = await connected.callback(_callback(expired, free))
    assert (response.status_code, response.json()["refusal"]) == (410, "EXPIRED")
    assert not await Account.filter(unipile_id=free).exists()
    late = await _link(ALICE, expires_in=-timedelta(minutes=1))
    response = await connected.callback(_callback(late, free))
    assert (response.status_code, response.json()["status"]) == (200, "ATTACHED")
    assert await Account.filter(unipile_id=free).exists()


async def test_repeated_callback_changes_nothing_and_a_used_link_is_refused(
    connected: Connected,
) -> None:
    first, second = await _free_upstream_account(connected), await _free_upstream_account(connected)
    name = await _link(ALICE, expires_in=timedelta(minutes=5))
    assert (await connected.callback(_callback(name, first))).json()["status"] == "ATTACHED"
    before = await Account.get(unipile_id=first)
    for _ in range(2):
        again = await connected.callback(_callback(name, first))
        assert (again.status_code, again.json()["status"]) == (200, "UNCHANGED")
    assert (await Account.get(unipile_id=first)).status_changed_at == before.status_changed_at
    used = await connected.callback(_callback(name, second))
    assert (used.status_code, used.json()["refusal"]) == (409, "LINK_USED")
    assert not await Account.filter(unipile_id=second).exists()


async def test_unknown_account_unknown_link_and_bad_bodies(connected: Connected) -> None:
    name = await _link(ALICE, expires_in=timedelta(minutes=5))
    unknown = await connected.callback(_callback(name, "acc_unknown_to_unipile"))
    assert (unknown.status_code, unknown.json()["refusal"]) == (404, "UNKNOWN_ACCOUNT")
    other = ReferenceSeal(SIGNING_KEY).seal("no-such-reference")
    free = await _free_upstream_account(connected)
    assert (await connected.callback(_callback(other, free))).status_code == 404
    bad_bodies: list[object] = [
        [],
        "text",
        {"status": "CREATION_SUCCESS"},
        _callback(name, free, status="DELETED"),
        _callback(name, free, status="RECONNECTED"),
        _callback(name, "../accounts"),
        _callback(name, free) | {"account_id": 42},
        _callback("x" * 10_000, free),
    ]
    for body in bad_bodies:
        response = await connected.callback(body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert "error" in response.json()
    async with httpx.AsyncClient(base_url=connected.url) as client:
        not_json = await client.post(HOSTED_AUTH_PATH, content=b"{not json")
        huge = await client.post(HOSTED_AUTH_PATH, content=b"x" * (5 * 1024 * 1024 + 1))
    assert not_json.status_code == 400 and huge.status_code == 413
    assert not await Account.filter(unipile_id=free).exists()


async def test_another_workspaces_account_is_refused(connected: Connected) -> None:
    taken = (await connected.accounts("alice"))[0]["externalId"]
    name = await _link(EVE, expires_in=timedelta(minutes=5))
    response = await connected.callback(_callback(name, taken))
    assert (response.status_code, response.json()["refusal"]) == (409, "ACCOUNT_TAKEN")
    account = await Account.get(unipile_id=taken)
    assert account.workspace_id == (await Workspace.get(slug="demo")).id
    assert await connected.accounts("eve") == []


async def test_detached_account_is_attached_again_by_a_new_link(connected: Connected) -> None:
    account = await connected.connect("WHATSAPP")
    await Account.filter(unipile_id=account["externalId"]).update(detached_at=datetime.now(UTC))
    assert account["externalId"] not in {a["externalId"] for a in await connected.accounts()}
    name = await _link(ALICE, expires_in=timedelta(minutes=5))
    response = await connected.callback(_callback(name, account["externalId"]))
    assert response.json()["status"] == "REATTACHED"
    assert (await connected.wait_for_account(account["externalId"]))["id"] == account["id"]
    assert await Account.filter(unipile_id=account["externalId"]).count() == 1
    assert (await Account.get(unipile_id=account["externalId"])).channel is Channel.WHATSAPP


async def test_a_reconnect_link_does_not_undo_a_later_disconnect_or_demotion(
    connected: Connected,
) -> None:
    account = await connected.connect("WHATSAPP", user="bob")
    row = await Account.get(unipile_id=account["externalId"])
    demoted = await _link(BOB, expires_in=timedelta(minutes=5), account=row)
    await Account.filter(id=row.id).update(owner_id=(await User.get(email=ALICE)).id)
    response = await connected.callback(_callback(demoted, row.unipile_id, "RECONNECTED"))
    assert (response.status_code, response.json()["refusal"]) == (403, "NOT_PERMITTED")

    stale = await _link(ALICE, expires_in=timedelta(minutes=6), account=row)
    await Account.filter(id=row.id).update(detached_at=datetime.now(UTC))
    response = await connected.callback(_callback(stale, row.unipile_id, "RECONNECTED"))
    assert (response.status_code, response.json()["refusal"]) == (409, "ACCOUNT_DISCONNECTED")
    assert (await Account.get(id=row.id)).detached_at is not None
    assert account["externalId"] not in {a["externalId"] for a in await connected.accounts()}

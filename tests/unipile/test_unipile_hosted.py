"""Hosted auth: the client's link and account calls against the sandbox over HTTP, and the
sandbox's link lifecycle (visit, connect, callback, webhook, reconnect, refusals, bounds)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.unipile.unipile_testkit import (
    API_KEY,
    WHATSAPP,
    Receiver,
    collect,
    running_receiver,
)
from unipile import (
    AccountDisconnectedError,
    InvalidRequestError,
    NotFoundError,
    UnipileClient,
    phone_to_whatsapp_jid,
)
from unipile.sandbox import SandboxSettings, _runtime, build_demo
from unipile.sandbox._links import MAX_LINKS, HostedLink, HostedLinks
from unipile.sandbox.demo import build_connected_account
from unipile.sandbox.testing import running_app, running_sandbox

CALLBACK_KEYS = {"status", "account_id", "name"}


def _soon(seconds: float = 600) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def stateless_sandbox() -> Iterator[str]:
    """One sandbox for the tests whose requests it refuses: they change nothing in it."""
    with running_sandbox(SandboxSettings(api_key=API_KEY)) as url:
        yield url


@pytest.fixture
def notify() -> Iterator[Receiver]:
    """Where links send UniPile's notify_url callback (apart from the account_status webhook)."""
    with running_receiver() as receiver:
        yield receiver


async def _link(client: UnipileClient, sandbox_url: str, notify: Receiver, **options: Any) -> str:
    settings: dict[str, Any] = {
        "kind": "create",
        "expires_on": _soon(),
        "api_url": sandbox_url,
        "providers": ["WHATSAPP"],
        "name": "user-ref-42",
        "notify_url": notify.url,
    }
    settings.update(options)
    return await client.create_hosted_auth_link(**settings)


def _raw_body(sandbox_url: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "create",
        "expiresOn": (datetime.now(UTC) + timedelta(minutes=10)).isoformat(),
        "api_url": sandbox_url,
        "providers": "*",
        "name": "n",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def _account_ids(client: UnipileClient) -> set[str]:
    accounts = await collect(lambda cursor: client.list_accounts(limit=2, cursor=cursor))
    return {account.id for account in accounts}


# -- the client -------------------------------------------------------------------------------


async def test_link_url_is_a_sandbox_page_and_posting_it_connects(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    before = await _account_ids(client)
    url = await _link(client, sandbox_url, notify)
    assert url.startswith(f"{sandbox_url}/hosted/")

    answer = await http.post(url, json={"provider": "WHATSAPP"})

    assert answer.status_code == 200
    result = answer.json()
    assert result["status"] == "CREATION_SUCCESS"
    assert await _account_ids(client) == before | {result["account_id"]}
    account = await client.get_account(result["account_id"])
    assert account.type == "WHATSAPP"
    assert [source.status for source in account.sources] == ["OK"]


async def test_link_request_body_is_uniPiles(http: httpx.AsyncClient) -> None:
    """The exact JSON the client posts, recorded by a stand-in: the sandbox keeps no copy."""
    seen: list[tuple[str, Any]] = []

    async def link(request: Request) -> JSONResponse:
        seen.append((request.headers["x-api-key"], await request.json()))
        return JSONResponse({"object": "HostedAuthUrl", "url": "https://auth.example/l/1"})

    app = Starlette(routes=[Route("/api/v1/hosted/accounts/link", link, methods=["POST"])])
    with running_app(app) as dsn:
        client = UnipileClient(http, dsn, API_KEY)
        url = await client.create_hosted_auth_link(
            kind="reconnect",
            expires_on=datetime(2099, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2))),
            api_url="https://api9.unipile.com:13999",
            providers=None,
            name="ref",
            notify_url="https://sb.example/notify",
            failure_redirect_url="https://crm.example/failed",
            reconnect_account="acc-1",
        )
        await client.create_hosted_auth_link(
            kind="create",
            expires_on=datetime(2099, 1, 2, tzinfo=UTC),
            api_url="https://api9.unipile.com:13999",
            providers=("WHATSAPP", "GOOGLE"),
            name="ref",
            notify_url="https://sb.example/notify",
        )

    assert url == "https://auth.example/l/1"
    assert seen == [
        (
            API_KEY,
            {
                "type": "reconnect",
                "expiresOn": "2099-01-02T01:04:05.678Z",
                "api_url": "https://api9.unipile.com:13999",
                "providers": "*",
                "name": "ref",
                "notify_url": "https://sb.example/notify",
                "failure_redirect_url": "https://crm.example/failed",
                "reconnect_account": "acc-1",
            },
        ),
        (
            API_KEY,
            {
                "type": "create",
                "expiresOn": "2099-01-02T00:00:00.000Z",
                "api_url": "https://api9.unipile.com:13999",
                "providers": ["WHATSAPP", "GOOGLE"],
                "name": "ref",
                "notify_url": "https://sb.example/notify",
            },
        ),
    ]


async def test_link_allowing_every_provider_lists_them(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    url = await _link(client, sandbox_url, notify, providers=None)

    page = await http.get(url)

    assert page.status_code == 200
    for provider in ("WHATSAPP", "LINKEDIN", "GOOGLE", "MICROSOFT", "IMAP"):
        assert f'value="{provider}"' in page.text
    await asyncio.sleep(0.1)
    assert notify.calls == []


async def test_delete_account(
    client: UnipileClient, sandbox_url: str, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    await client.create_webhook(request_url=receiver.url, source="account_status")
    chats = await client.list_chats(account_id=WHATSAPP, limit=1)
    assert chats.items

    await client.delete_account(WHATSAPP)

    with pytest.raises(NotFoundError):
        await client.get_account(WHATSAPP)
    with pytest.raises(NotFoundError):
        await client.get_chat(chats.items[0].id)
    with pytest.raises(NotFoundError):
        await client.delete_account(WHATSAPP)
    assert WHATSAPP not in await _account_ids(client)
    assert (await client.list_chats(account_id=WHATSAPP)).items == ()
    ((_, payload),) = await receiver.wait_for(1)
    assert payload == {
        "AccountStatus": {"account_id": WHATSAPP, "account_type": "WHATSAPP", "message": "DELETED"}
    }


# -- the link's lifecycle -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "account_type"),
    [
        ("WHATSAPP", "WHATSAPP"),
        ("LINKEDIN", "LINKEDIN"),
        ("GOOGLE", "GOOGLE_OAUTH"),
        ("MICROSOFT", "OUTLOOK"),
        ("IMAP", "MAIL"),
    ],
)
async def test_visit_connects_an_account_with_demo_data(
    client: UnipileClient,
    sandbox_url: str,
    notify: Receiver,
    receiver: Receiver,
    provider: str,
    account_type: str,
) -> None:
    await client.create_webhook(request_url=receiver.url, source="account_status")
    url = await _link(client, sandbox_url, notify, providers=[provider])

    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)

    assert page.status_code == 200
    assert "connected" in page.text
    ((headers, callback),) = await notify.wait_for(1)
    assert set(callback) == CALLBACK_KEYS
    assert callback["status"] == "CREATION_SUCCESS"
    assert callback["name"] == "user-ref-42"
    assert headers["content-type"] == "application/json"
    account_id = callback["account_id"]
    assert account_id in page.text
    account = await client.get_account(account_id)
    assert account.type == account_type
    ((_, status),) = await receiver.wait_for(1)
    assert status == {
        "AccountStatus": {
            "account_id": account_id,
            "account_type": account_type,
            "message": "CREATION_SUCCESS",
        }
    }
    if account_type in ("WHATSAPP", "LINKEDIN"):
        chats = await client.list_chats(account_id=account_id)
        assert chats.items
        messages = await client.list_chat_messages(chats.items[0].id)
        assert messages.items
    else:
        emails = await client.list_emails(account_id=account_id)
        assert emails.items
        assert {f.role for f in (await client.list_folders(account_id=account_id)).items} == {
            "inbox",
            "sent",
        }
        sent = await client.send_email(account_id=account_id, body="<p>Hi</p>", to=["x@y.example"])
        assert sent.id is not None
        assert (await client.get_email(sent.id)).account_id == account_id


async def test_connected_whatsapp_talks_with_people_the_demo_crm_knows(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    url = await _link(client, sandbox_url, notify)
    account_id = (await http.post(url, json={})).json()["account_id"]

    attendees = await collect(
        lambda cursor: client.list_account_attendees(account_id=account_id, cursor=cursor)
    )

    crm_phones = {
        phone_to_whatsapp_jid(phone)
        for contact in build_demo(7).crm.contacts
        for phone in contact.phones
        if phone.startswith("+")
    }
    assert crm_phones & {a.provider_id for a in attendees}


def test_connected_account_data_is_deterministic() -> None:
    def build(key: str) -> tuple[Any, ...]:
        account, data = build_connected_account(
            7, key, "acc", "GOOGLE_OAUTH", "2026-01-01T00:00:00.000Z"
        )
        return account["name"], [e["id"] for e in data.emails]

    assert build("link-a") == build("link-a")
    assert build("link-a") != build("link-b")


async def test_chooser_page_then_form_post_redirects_to_success_url(
    client: UnipileClient, sandbox_url: str, notify: Receiver
) -> None:
    before = await _account_ids(client)
    url = await _link(
        client,
        sandbox_url,
        notify,
        providers=["WHATSAPP", "GOOGLE"],
        success_redirect_url="https://crm.example/connected?step=2",
    )
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
        assert page.status_code == 200
        assert 'value="WHATSAPP"' in page.text and 'value="GOOGLE"' in page.text
        assert await _account_ids(client) == before

        answer = await browser.post(url, data={"provider": "GOOGLE"})

    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "crm.example", "/connected")
    query = parse_qs(target.query)
    assert query["step"] == ["2"]
    (account_id,) = query["account_id"]
    assert (await client.get_account(account_id)).type == "GOOGLE_OAUTH"
    ((_, callback),) = await notify.wait_for(1)
    assert callback["account_id"] == account_id


async def test_provider_in_the_query_connects_at_once(
    client: UnipileClient, sandbox_url: str, notify: Receiver
) -> None:
    url = await _link(client, sandbox_url, notify, providers=None)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url, params={"provider": "IMAP"})
        assert page.status_code == 200
        ((_, callback),) = await notify.wait_for(1)
        assert (await client.get_account(callback["account_id"])).type == "MAIL"


async def test_provider_not_allowed_is_refused_and_the_link_stays_usable(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    url = await _link(client, sandbox_url, notify, providers=["WHATSAPP", "GOOGLE"])
    for provider in ("LINKEDIN", "x" * 10_000, 12, None):
        refused = await http.post(url, json={"provider": provider})
        assert refused.status_code == 400, provider
        assert refused.json()["status"] == 400
    assert (await http.post(url, json={"provider": "WHATSAPP"})).status_code == 200


async def test_reconnect(
    client: UnipileClient,
    sandbox_url: str,
    admin: httpx.AsyncClient,
    notify: Receiver,
    receiver: Receiver,
) -> None:
    await admin.post(f"/_sandbox/accounts/{WHATSAPP}/status", json={"status": "CREDENTIALS"})
    with pytest.raises(AccountDisconnectedError):
        await client.list_chats(account_id=WHATSAPP)
    await client.create_webhook(request_url=receiver.url, source="account_status")
    url = await _link(client, sandbox_url, notify, kind="reconnect", reconnect_account=WHATSAPP)
    before = await _account_ids(client)

    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)

    assert page.status_code == 200
    ((_, callback),) = await notify.wait_for(1)
    assert callback == {"status": "RECONNECTED", "account_id": WHATSAPP, "name": "user-ref-42"}
    ((_, status),) = await receiver.wait_for(1)
    assert status["AccountStatus"]["message"] == "RECONNECTED"
    assert status["AccountStatus"]["account_id"] == WHATSAPP
    assert [s.status for s in (await client.get_account(WHATSAPP)).sources] == ["OK"]
    assert (await client.list_chats(account_id=WHATSAPP, limit=1)).items
    assert await _account_ids(client) == before


async def test_reconnect_of_an_account_deleted_since_fails(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    url = await _link(client, sandbox_url, notify, kind="reconnect", reconnect_account=WHATSAPP)
    await client.delete_account(WHATSAPP)

    answer = await http.post(url, json={})

    assert answer.status_code == 404
    assert answer.json()["type"] == "errors/resource_not_found"
    await asyncio.sleep(0.1)
    assert notify.calls == []


async def test_used_link_is_refused(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    url = await _link(client, sandbox_url, notify)
    assert (await http.get(url)).status_code == 200
    accounts = await _account_ids(client)

    again = await http.get(url)
    posted = await http.post(url, json={"provider": "WHATSAPP"})

    assert again.status_code == 410
    assert "already been used" in again.text
    assert again.headers["content-type"].startswith("text/html")
    assert posted.status_code == 410
    assert posted.json()["type"] == "errors/expired_link"
    assert await _account_ids(client) == accounts
    await asyncio.sleep(0.1)
    assert len(notify.calls) == 1


async def test_expired_link_is_refused(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    url = await _link(client, sandbox_url, notify, expires_on=_soon(0.3))
    accounts = await _account_ids(client)
    await asyncio.sleep(0.4)

    page = await http.get(url)
    posted = await http.post(url, json={})

    assert page.status_code == 410
    assert "expired" in page.text
    assert posted.status_code == 410
    assert posted.json()["status"] == 410
    assert await _account_ids(client) == accounts


@pytest.mark.parametrize(
    "path", ["unknown-link", "..%2F..", "..%2F..%2Fapi%2Fv1%2Faccounts", "a/b"]
)
async def test_unknown_link(stateless_sandbox: str, http: httpx.AsyncClient, path: str) -> None:
    url = f"{stateless_sandbox}/hosted/{path}"

    page = await http.get(url)
    posted = await http.post(url, json={"provider": "WHATSAPP"})

    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert posted.status_code == 404
    assert posted.json()["type"] == "errors/resource_not_found"


async def test_failure_redirect(
    client: UnipileClient, sandbox_url: str, notify: Receiver, http: httpx.AsyncClient
) -> None:
    url = await _link(
        client,
        sandbox_url,
        notify,
        providers=["WHATSAPP", "GOOGLE"],
        failure_redirect_url="https://crm.example/failed",
    )

    answer = await http.get(url, params={"provider": "LINKEDIN"})

    assert answer.status_code == 303
    assert (
        answer.headers["location"] == "https://crm.example/failed?error=errors%2Finvalid_parameters"
    )


# -- bad link requests ----------------------------------------------------------------------


def _past() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).isoformat()


BAD_BODIES: dict[str, tuple[dict[str, Any], str]] = {
    "type missing": ({"type": None}, "missing_parameters"),
    "type unknown": ({"type": "delete"}, "invalid_parameters"),
    "type not a string": ({"type": ["create"]}, "invalid_parameters"),
    "expiresOn missing": ({"expiresOn": None}, "missing_parameters"),
    "expiresOn not a date": ({"expiresOn": "tomorrow"}, "invalid_parameters"),
    "expiresOn a number": ({"expiresOn": 1767225600}, "invalid_parameters"),
    "expiresOn in the past": ({"expiresOn": "PAST"}, "invalid_parameters"),
    "api_url missing": ({"api_url": None}, "missing_parameters"),
    "api_url not a URL": ({"api_url": "not a url"}, "invalid_parameters"),
    "api_url not http": ({"api_url": "ftp://example.org"}, "invalid_parameters"),
    "providers missing": ({"providers": None}, "missing_parameters"),
    "providers unknown": ({"providers": ["WHATSAPP", "MYSPACE"]}, "invalid_parameters"),
    "providers empty": ({"providers": []}, "invalid_parameters"),
    "providers too many": ({"providers": ["WHATSAPP"] * 10_000}, "invalid_parameters"),
    "providers a string": ({"providers": "WHATSAPP"}, "invalid_parameters"),
    "providers not strings": ({"providers": [{"a": 1}]}, "invalid_parameters"),
    "notify_url not a URL": ({"notify_url": "javascript:alert(1)"}, "invalid_parameters"),
    "success_redirect_url empty": ({"success_redirect_url": ""}, "invalid_parameters"),
    "name overlong": ({"name": "n" * 10_000}, "too_many_characters"),
    "name not a string": ({"name": 12}, "invalid_parameters"),
    "reconnect without account": ({"type": "reconnect"}, "missing_parameters"),
    "reconnect unknown account": (
        {"type": "reconnect", "reconnect_account": "no-such-account"},
        "invalid_parameters",
    ),
    "reconnect path-like account": (
        {"type": "reconnect", "reconnect_account": "../accounts"},
        "invalid_parameters",
    ),
    "reconnect_account on create": ({"reconnect_account": WHATSAPP}, "invalid_parameters"),
}


@pytest.mark.parametrize("case", BAD_BODIES)
async def test_bad_link_body_is_refused(
    stateless_sandbox: str, http: httpx.AsyncClient, case: str
) -> None:
    changes, type_ = BAD_BODIES[case]
    if changes.get("expiresOn") == "PAST":
        changes = {"expiresOn": _past()}

    answer = await http.post(
        f"{stateless_sandbox}/api/v1/hosted/accounts/link",
        json=_raw_body(stateless_sandbox, **changes),
        headers={"X-API-KEY": API_KEY},
    )

    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == 400
    assert body["type"] == f"errors/{type_}"
    assert body["detail"]


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'"*"'])
async def test_malformed_link_body_is_refused(
    stateless_sandbox: str, http: httpx.AsyncClient, content: bytes
) -> None:
    answer = await http.post(
        f"{stateless_sandbox}/api/v1/hosted/accounts/link",
        content=content,
        headers={"X-API-KEY": API_KEY, "Content-Type": "application/json"},
    )

    assert answer.status_code == 400
    assert answer.json()["type"] == "errors/malformed_request"


async def test_link_needs_the_api_key(stateless_sandbox: str, http: httpx.AsyncClient) -> None:
    answer = await http.post(
        f"{stateless_sandbox}/api/v1/hosted/accounts/link", json=_raw_body(stateless_sandbox)
    )

    assert answer.status_code == 401


async def test_client_raises_on_a_refused_link(
    client: UnipileClient, sandbox_url: str, notify: Receiver
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await _link(client, sandbox_url, notify, name="n" * 10_000)
    assert refused.value.type == "errors/too_many_characters"
    with pytest.raises(InvalidRequestError):
        await _link(client, sandbox_url, notify, expires_on=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(InvalidRequestError):
        await _link(client, sandbox_url, notify, kind="reconnect", reconnect_account="nobody")


# -- bounds ---------------------------------------------------------------------------------


def _stored_link(link_id: str, expires_on: datetime) -> HostedLink:
    return HostedLink(link_id, "create", expires_on, ("WHATSAPP",), None, None, None, None, None)


def test_link_table_is_bounded_and_pruned() -> None:
    links, now = HostedLinks(), datetime.now(UTC)
    links.add(_stored_link("long-expired", now - timedelta(hours=1)), now)
    links.add(_stored_link("just-expired", now - timedelta(seconds=1)), now)
    for index in range(MAX_LINKS):
        links.add(_stored_link(f"link-{index}", now + timedelta(hours=1)), now)

    assert len(links) == MAX_LINKS
    assert links.get("long-expired") is None
    assert links.get("link-0") is not None
    links.add(_stored_link("one-more", now + timedelta(hours=1)), now)
    assert len(links) == MAX_LINKS
    assert links.get("link-0") is None and links.get("one-more") is not None


async def test_hosted_accounts_are_bounded(
    client: UnipileClient,
    sandbox_url: str,
    notify: Receiver,
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_runtime, "MAX_CONNECTED_ACCOUNTS", 2)
    connected = []
    for _ in range(2):
        url = await _link(client, sandbox_url, notify)
        connected.append((await http.post(url, json={})).json()["account_id"])
    url = await _link(client, sandbox_url, notify)

    refused = await http.post(url, json={})

    assert refused.status_code == 422
    assert refused.json()["type"] == "errors/limit_exceeded"
    await client.delete_account(connected[0])
    assert (await http.post(url, json={})).status_code == 200


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data; boundary=b"],
)
async def test_form_that_is_not_utf8_is_refused(
    client: UnipileClient,
    sandbox_url: str,
    notify: Receiver,
    http: httpx.AsyncClient,
    content_type: str,
) -> None:
    url = await _link(client, sandbox_url, notify)
    content = (
        b"provider=\xff\xfe"
        if content_type.startswith("application")
        else b'--b\r\nContent-Disposition: form-data; name="provider"\r\n\r\n\xff\r\n--b--\r\n'
    )

    answer = await http.post(url, content=content, headers={"Content-Type": content_type})

    assert answer.status_code == 400
    assert (await http.post(url, json={})).status_code == 200

"""Two workspaces over one UniPile organisation, served for attack tests.

The sandbox serves the demo tenant's accounts and, with `rival_tenant=True`, a second
tenant's two (as two Switchboard workspaces may share one UniPile API key). The database holds the
demo workspace (alice ADMIN, bob MEMBER) and a "Rival" workspace (carol ADMIN owning the rival
Gmail, dave MEMBER owning the rival WhatsApp) with a CRM whose identifiers match its own
conversations (and, for Jane Doe, the demo CRM's too).

Automatic storage of email is held (policy MANUAL in both workspaces) so that nothing calls
UniPile behind a test's back: the sandbox's counters then show exactly what the requests made.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from tortoise.transactions import in_transaction
from websockets.asyncio.client import ClientConnection

from access.tokens import issue_token
from accounts.lifecycle import own_identifiers
from core.identity import Identity
from core.vocabulary import Channel, IdentifierKind, Role, StoragePolicy, channel_for_provider
from crm import Rejected, normalize_company_domain, normalize_contact_identifier
from db.models import (
    Account,
    Company,
    CompanyDomain,
    Contact,
    ContactIdentifier,
    StoragePolicySetting,
    User,
    Workspace,
)
from server.app import create_app
from server.demo import DEMO_USERS, load_demo
from server.webhooks import register_webhooks
from tests.inbox.conftest import SANDBOX_KEY, SIGNING_KEY, WEBHOOK_SECRET, inbox_settings
from unipile import Account as UnipileAccount
from unipile import UnipileClient
from unipile.sandbox import Demo, SandboxSettings, build_demo, build_rival
from unipile.sandbox.demo import (
    GMAIL_ID,
    LINKEDIN_ID,
    OUTLOOK_ID,
    RIVAL_DEFAULT_REGION,
    RIVAL_GMAIL_ID,
    RIVAL_WHATSAPP_ID,
    WHATSAPP_ID,
)
from unipile.sandbox.testing import running_app, running_sandbox

SEED = 7
DEMO = build_demo(SEED)
RIVAL = build_rival(SEED)

ALICE_GMAIL, ALICE_OUTLOOK, BOB_WHATSAPP, SHARED_LINKEDIN = (
    GMAIL_ID,
    OUTLOOK_ID,
    WHATSAPP_ID,
    LINKEDIN_ID,
)
CAROL_GMAIL, DAVE_WHATSAPP = RIVAL_GMAIL_ID, RIVAL_WHATSAPP_ID
# Read from the data, so that an account added to the demo is covered too.
DEMO_ACCOUNTS = frozenset(a.id for a in DEMO.accounts)
ALICE_PRIVATE = frozenset(a.id for a in DEMO.accounts if a.owner == "alice" and not a.shared)
RIVAL_ACCOUNTS = frozenset(a.id for a in RIVAL.accounts)
assert {ALICE_GMAIL, ALICE_OUTLOOK} <= ALICE_PRIVATE
assert {BOB_WHATSAPP, SHARED_LINKEDIN} <= DEMO_ACCOUNTS - ALICE_PRIVATE
assert RIVAL_ACCOUNTS == {CAROL_GMAIL, DAVE_WHATSAPP}

RIVAL_SLUG = "rival"
RIVAL_USERS = {
    "carol": ("carol@rival.switchboard.test", "Carol Reyes", Role.ADMIN),
    "dave": ("dave@rival.switchboard.test", "Dave Okafor", Role.MEMBER),
}
USERS = ("alice", "bob", "carol", "dave")
WORKSPACE_OF = {"alice": "demo", "bob": "demo", "carol": RIVAL_SLUG, "dave": RIVAL_SLUG}

# Every UniPile call a user's request may lead to; anything else (accounts, webhooks, folders,
# account-wide attendee lists) is never a user action's business.
READ_ROUTES = frozenset(
    {
        "GET /api/v1/chats",
        "GET /api/v1/chats/{chat_id}",
        "GET /api/v1/chats/{chat_id}/messages",
        "GET /api/v1/chats/{chat_id}/attendees",
        "GET /api/v1/messages/{message_id}",
        "GET /api/v1/emails",
        "GET /api/v1/emails/{email_id}",
    }
)
WRITE_ROUTES = frozenset(
    {
        "POST /api/v1/chats/{chat_id}/messages",
        "POST /api/v1/emails",
        "PATCH /api/v1/chats/{chat_id}",
        "PUT /api/v1/emails/{email_id}",
    }
)
# Single objects fetched by id, the only way to learn whose a chat, message or email is.
OWNERSHIP_PROBES = frozenset(
    {
        "GET /api/v1/chats/{chat_id}",
        "GET /api/v1/messages/{message_id}",
        "GET /api/v1/emails/{email_id}",
    }
)


# -- ids ------------------------------------------------------------------------------------


def gid(type_name: str, key: str | int) -> str:
    """A global id as the API issues them: standard base64 of `Type:key`."""
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def conversation_gid(account_pk: int, external_id: str) -> str:
    return gid("Conversation", f"{account_pk}:{external_id}")


def message_gid(account_pk: int, conversation_external_id: str, external_id: str) -> str:
    return gid("Message", f"{account_pk}:{conversation_external_id}:{external_id}")


# -- the sandbox's data -----------------------------------------------------------------------


def threads(data: Demo, account_id: str) -> list[list[dict[str, Any]]]:
    """The account's email threads, newest activity first, each newest email first."""
    by_thread: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for email in data.emails:
        if email["account_id"] == account_id:
            by_thread[email["thread_id"]].append(email)
    found = [
        sorted(t, key=lambda e: (e["date"], e["id"]), reverse=True) for t in by_thread.values()
    ]
    return sorted(found, key=lambda t: (t[0]["date"], t[0]["id"]), reverse=True)


def a_thread(data: Demo, account_id: str, min_emails: int = 1) -> list[dict[str, Any]]:
    return next(t for t in threads(data, account_id) if len(t) >= min_emails)


def chats(data: Demo, account_id: str, group: bool = False) -> list[dict[str, Any]]:
    """The account's one-to-one (or group) chats, newest first."""
    found = [c for c in data.chats if c["account_id"] == account_id and (c["type"] == 1) == group]
    return sorted(found, key=lambda c: (c["timestamp"], c["id"]), reverse=True)


def chat_messages(data: Demo, chat_id: str) -> list[dict[str, Any]]:
    found = [m for m in data.messages if m["chat_id"] == chat_id]
    return sorted(found, key=lambda m: (m["timestamp"], m["id"]), reverse=True)


def a_chat(data: Demo, account_id: str, min_messages: int = 1) -> dict[str, Any]:
    return next(
        c for c in chats(data, account_id) if len(chat_messages(data, c["id"])) >= min_messages
    )


def markers(data: Demo, account_ids: Iterable[str]) -> frozenset[str]:
    """Strings only these accounts' data holds: UniPile ids of their chats, threads, messages,
    emails and attendees, and the accounts' own addresses and numbers. One of them in another
    tenant's response is a leak."""
    wanted = set(account_ids)
    found: set[str] = set(wanted)
    for account in data.accounts:
        if account.id in wanted:
            found.add(account.name)
    for chat in data.chats:
        if chat["account_id"] in wanted:
            found.add(chat["id"])
    for message in data.messages:
        if message["account_id"] in wanted:
            found.update((message["id"], message["provider_id"]))
    for email in data.emails:
        if email["account_id"] in wanted:
            found.update((email["id"], email["thread_id"], email["provider_id"]))
    for attendee in data.attendees:
        if attendee["account_id"] in wanted:
            found.add(attendee["id"])
    return frozenset(found)


DEMO_MARKERS = markers(DEMO, DEMO_ACCOUNTS)
ALICE_PRIVATE_MARKERS = markers(DEMO, ALICE_PRIVATE)
RIVAL_MARKERS = markers(RIVAL, RIVAL_ACCOUNTS)
_TOKEN = re.compile(r"[A-Za-z0-9_\-@.+]+")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return
        yield decoded
        yield from decoded.split(":")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def leaked(response: Any, secret: frozenset[str], texts: Iterable[str] = ()) -> set[str]:
    """The secret markers (and texts) found anywhere in a response, global ids decoded."""
    found: set[str] = set()
    texts = tuple(texts)
    for text in _strings(response):
        found.update(token for token in _TOKEN.findall(text) if token in secret)
        found.update(t for t in texts if t in text)
    return found


# -- the served app ---------------------------------------------------------------------------


def error_codes(result: dict[str, Any]) -> list[str]:
    return [str((e.get("extensions") or {}).get("code")) for e in result.get("errors") or []]


@dataclass
class Socket:
    """One graphql-transport-ws connection carrying several subscriptions."""

    connection: ClientConnection
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    ended: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=count)

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        sid = f"s{next(self._ids)}"
        payload = {"query": query, "variables": variables or {}}
        await self.connection.send(json.dumps({"id": sid, "type": "subscribe", "payload": payload}))
        return sid

    async def drain(self, seconds: float) -> None:
        """Read whatever arrives within `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            try:
                raw = await asyncio.wait_for(self.connection.recv(), left)
            except TimeoutError:
                return
            message = json.loads(raw)
            if message.get("type") == "next":
                self.received[message["id"]].append(message["payload"])
            elif message.get("type") in ("error", "complete"):
                self.ended[message["id"]] = message
            elif message.get("type") == "ping":
                await self.connection.send(json.dumps({"type": "pong"}))

    async def wait_for(self, sid: str, count: int = 1, seconds: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(self.received[sid]) < count and sid not in self.ended:
            if loop.time() > deadline:
                raise AssertionError(f"subscription {sid} got {self.received[sid]} in {seconds} s")
            await self.drain(0.1)


@dataclass(frozen=True)
class Tenants:
    url: str
    sandbox: str
    tokens: dict[str, str]
    users: dict[str, int]
    """User primary keys by first name."""
    accounts: dict[str, int]
    """Account primary keys by UniPile id."""
    workspaces: dict[str, int]
    """Workspace primary keys by slug."""

    async def post(self, body: dict[str, Any], token: str | None) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            return await client.post("/graphql", json=body, headers=headers)

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, user: str = "alice"
    ) -> dict[str, Any]:
        response = await self.post(
            {"query": query, "variables": variables or {}}, self.tokens[user]
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def sandbox_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.sandbox, timeout=30) as client:
            return await client.post(path, json=body)

    async def route_stats(self) -> dict[str, int]:
        """UniPile requests since the last reset, by route template."""
        async with httpx.AsyncClient(base_url=self.sandbox) as client:
            stats: dict[str, int] = (await client.get("/_sandbox/stats")).json()["requests"]
        return stats

    async def account_stats(self) -> dict[str, dict[str, int]]:
        """UniPile requests since the last reset, by the account they named (`*`: every one)."""
        async with httpx.AsyncClient(base_url=self.sandbox) as client:
            stats: dict[str, dict[str, int]] = (
                await client.get("/_sandbox/stats/accounts")
            ).json()["accounts"]
        return stats

    async def reset_stats(self) -> None:
        async with httpx.AsyncClient(base_url=self.sandbox) as client:
            (await client.post("/_sandbox/stats/reset")).raise_for_status()

    async def register_webhooks(self) -> None:
        async with httpx.AsyncClient() as http:
            client = UnipileClient(http, self.sandbox, SANDBOX_KEY)
            await register_webhooks(client, url=self.url, secret=WEBHOOK_SECRET)

    @asynccontextmanager
    async def socket(
        self, user: str | None = None, token: str | None = None
    ) -> AsyncIterator[Socket]:
        """A graphql-transport-ws connection, acknowledged, as `user` (or with `token`)."""
        token = self.tokens[user] if user is not None else token
        url = self.url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as connection:  # type: ignore[list-item]
            payload = {} if token is None else {"Authorization": f"Bearer {token}"}
            await connection.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = json.loads(await asyncio.wait_for(connection.recv(), 5))
            if ack["type"] != "connection_ack":
                raise ConnectionRefusedError(ack)
            yield Socket(connection)

    def token_for(self, user_pk: int, workspace_pk: int) -> str:
        return issue_token(Identity(user_pk, workspace_pk), SIGNING_KEY, timedelta(hours=1))

    def conversation(self, account_id: str, external_id: str) -> str:
        return conversation_gid(self.accounts[account_id], external_id)


async def load_rival(data: Demo) -> Workspace:
    """The rival workspace: its users, the sandbox's rival accounts, and its CRM."""
    region = RIVAL_DEFAULT_REGION
    async with in_transaction():
        workspace = await Workspace.create(name="Rival", slug=RIVAL_SLUG, default_region=region)
        users = {
            key: await User.create(workspace=workspace, email=email, name=name, role=role)
            for key, (email, name, role) in RIVAL_USERS.items()
        }
        for account in data.accounts:
            await Account.create(
                workspace=workspace,
                owner=users[account.owner],
                shared=account.shared,
                channel=channel_for_provider(account.type),
                provider=account.type,
                unipile_id=account.id,
                name=account.name,
                own_identifiers=own_identifiers(UnipileAccount.from_json(account.data), region),
            )
        companies: dict[str, Company] = {}
        for demo_company in data.crm.companies:
            company = await Company.create(workspace=workspace, name=demo_company.name)
            for raw in demo_company.domains:
                domain = normalize_company_domain(raw)
                assert not isinstance(domain, Rejected), raw
                await CompanyDomain.create(workspace=workspace, company=company, domain=domain)
            companies[demo_company.key] = company
        for demo_contact in data.crm.contacts:
            contact = await Contact.create(
                workspace=workspace,
                first_name=demo_contact.first_name,
                last_name=demo_contact.last_name,
                company=companies.get(demo_contact.company_key or ""),
            )
            for kind, raws in (
                (IdentifierKind.EMAIL, demo_contact.emails),
                (IdentifierKind.PHONE, demo_contact.phones),
                (IdentifierKind.PROVIDER_ID, demo_contact.provider_ids),
            ):
                for raw in raws:
                    identifier = normalize_contact_identifier(kind, raw, region=region)
                    assert not isinstance(identifier, Rejected), raw
                    await ContactIdentifier.create(
                        workspace=workspace,
                        contact=contact,
                        kind=identifier.kind,
                        value=identifier.value,
                        original=raw,
                    )
    return workspace


async def hold_email_storage(workspace: Workspace) -> None:
    await StoragePolicySetting.update_or_create(
        workspace=workspace, channel=Channel.EMAIL, defaults={"policy": StoragePolicy.MANUAL}
    )


@pytest.fixture
async def tenants(database: str, tmp_path: Path) -> AsyncIterator[Tenants]:
    await load_demo(SEED)
    demo = await Workspace.get(slug="demo")
    rival = await load_rival(RIVAL)
    for workspace in (demo, rival):
        await hold_email_storage(workspace)
    emails = {name: email for name, (email, _) in DEMO_USERS.items()}
    emails.update({name: email for name, (email, _, _) in RIVAL_USERS.items()})
    users = {name: await User.get(email=emails[name]) for name in USERS}
    tokens = {
        name: issue_token(Identity(user.id, user.workspace_id), SIGNING_KEY, timedelta(hours=1))
        for name, user in users.items()
    }
    accounts = {a.unipile_id: a.id for a in await Account.all()}
    settings = SandboxSettings(
        api_key=SANDBOX_KEY, rival_tenant=True, webhook_retry_delays=(0.2, 0.5, 1.0, 1.0, 1.0)
    )
    with running_sandbox(settings) as sandbox_url:
        app = create_app(inbox_settings(database, tmp_path, sandbox_url))
        with running_app(app) as url:
            served = Tenants(
                url=url,
                sandbox=sandbox_url,
                tokens=tokens,
                users={name: user.id for name, user in users.items()},
                accounts=accounts,
                workspaces={"demo": demo.id, RIVAL_SLUG: rival.id},
            )
            await served.register_webhooks()
            await served.reset_stats()
            yield served

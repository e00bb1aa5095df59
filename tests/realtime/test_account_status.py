from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from core.vocabulary import AccountStatus, Channel
from db.models import Account, User, WebhookReceipt, Workspace
from db.versions import MemoryVersions
from inbox.live_cache import LiveCache, live_lists_version
from realtime.account_status import AccountStatusEvents
from realtime.pubsub import RedisPubSub
from realtime.receipts import ReceiptProcessor
from realtime.topics import account_topic, live_lists_topic, workspace_accounts_topic
from server.webhooks import WEBHOOK_PATH, register_webhooks
from tests.realtime.conftest import SECRET, receiver_app
from unipile import UnipileClient
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

API_KEY = "sandbox-test-key"


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings(api_key=API_KEY, webhook_retry_delays=(0.1,) * 5)) as url:
        yield url


@pytest.fixture
async def unipile(sandbox_url: str) -> AsyncIterator[UnipileClient]:
    async with httpx.AsyncClient() as http:
        yield UnipileClient(http, sandbox_url, API_KEY)


async def test_registering_twice_creates_each_webhook_once(unipile: UnipileClient) -> None:
    url = "http://switchboard.test"
    first = await register_webhooks(unipile, url=url, secret=SECRET)
    again = await register_webhooks(unipile, url=url, secret=SECRET)
    hooks = (await unipile.list_webhooks()).items
    assert first == again and len(hooks) == 3
    assert {hook.source for hook in hooks} == {"messaging", "email", "account_status"}
    for hook in hooks:
        assert hook.request_url == url + WEBHOOK_PATH
        assert set(hook.headers) == {("Unipile-Auth", SECRET), ("Content-Type", "application/json")}


async def test_registering_with_a_new_secret_replaces_the_webhooks(unipile: UnipileClient) -> None:
    url = "http://switchboard.test"
    old = await register_webhooks(unipile, url=url, secret=SECRET)
    new = await register_webhooks(unipile, url=url, secret=SECRET[::-1])
    hooks = (await unipile.list_webhooks()).items
    assert not set(old) & set(new) and sorted(hook.id for hook in hooks) == sorted(new)


async def test_an_account_status_webhook_updates_the_account_and_is_published(
    database: str, redis_url: str, sandbox_url: str, unipile: UnipileClient
) -> None:
    unipile_id = (await unipile.list_accounts()).items[0].id
    workspace = await Workspace.create(name="Acme", slug="acme")
    owner = await User.create(workspace=workspace, email="a@acme.test", name="A")
    account = await Account.create(
        workspace=workspace,
        owner=owner,
        channel=Channel.WHATSAPP,
        provider="WHATSAPP",
        unipile_id=unipile_id,
        name="A",
    )
    server_pubsub, listener = RedisPubSub(redis_url), RedisPubSub(redis_url)
    processor = ReceiptProcessor(server_pubsub, poll_interval=0.2)
    processor.on("account_status", AccountStatusEvents(LiveCache(unipile, MemoryVersions())).apply)
    await listener.start()
    try:
        with running_app(receiver_app(database, processor, server_pubsub)) as url:
            await register_webhooks(unipile, url=url, secret=SECRET)
            async with (
                listener.subscribe(account_topic(unipile_id)) as on_account,
                listener.subscribe(workspace_accounts_topic(workspace.id)) as on_workspace,
            ):
                async with httpx.AsyncClient(base_url=sandbox_url) as admin:
                    response = await admin.post(
                        f"/_sandbox/accounts/{unipile_id}/status", json={"status": "CREDENTIALS"}
                    )
                    response.raise_for_status()
                async with asyncio.timeout(5):
                    change = await anext(on_account)
                    assert await anext(on_workspace) == change
    finally:
        await listener.aclose()
    await account.refresh_from_db()
    assert account.status == AccountStatus.CREDENTIALS
    assert account.last_error is not None and account.status_changed_at is not None
    assert change == {
        "type": "account_status",
        "account_id": account.id,
        "unipile_id": unipile_id,
        "workspace_id": workspace.id,
        "status": "CREDENTIALS",
        "last_error": account.last_error,
        "status_changed_at": account.status_changed_at.isoformat(),
    }


async def test_a_status_that_changes_nothing_is_not_published(
    database: str, unipile: UnipileClient
) -> None:
    workspace = await Workspace.create(name="Acme", slug="acme")
    owner = await User.create(workspace=workspace, email="a@acme.test", name="A")
    await Account.create(
        workspace=workspace,
        owner=owner,
        channel=Channel.EMAIL,
        provider="MAIL",
        unipile_id="acc",
        name="A",
    )
    versions = MemoryVersions()
    events = AccountStatusEvents(LiveCache(unipile, versions))
    assert await events.apply(await _receipt("SYNC_SUCCESS")) == []
    assert await events.apply(await _receipt("NOT_A_STATUS")) == []
    assert await versions.current([live_lists_version("acc")]) == (0,)
    published = await events.apply(await _receipt("STOPPED"))
    assert [p.topic for p in published] == [
        live_lists_topic(),
        account_topic("acc"),
        workspace_accounts_topic(workspace.id),
    ]
    assert await versions.current([live_lists_version("acc")]) == (1,)


async def _receipt(status: str) -> WebhookReceipt:
    payload = {"AccountStatus": {"account_id": "acc", "account_type": "MAIL", "message": status}}
    return WebhookReceipt(event="account_status", event_key=status, payload=payload)

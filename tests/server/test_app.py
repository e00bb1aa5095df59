from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from access.tokens import issue_token
from core.identity import Identity
from core.vocabulary import AccountStatus, Channel
from db.models import Account, User, Workspace
from server.app import create_app
from server.settings import Settings
from unipile.sandbox.testing import running_app

KEY = "test-signing-key-0123456789-abcdefghij"
# The newest released version in the changelog: the one the package must carry.
CHANGELOG_VERSION = re.findall(
    r"^## \[(\d+\.\d+\.\d+)\]", (Path(__file__).parents[2] / "CHANGELOG.md").read_text(), re.M
)[0]
VIEWER_QUERY = (
    "{ viewer { user { email } workspace { name slug } } accounts { externalId channel status "
    "shared isMine } }"
)


def make_settings(database_url: str, data_dir: Path) -> Settings:
    environ = {
        "DATABASE_URL": database_url,
        "JWT_SECRET": KEY,
        "DATA_DIR": str(data_dir),
        "UNIPILE_DSN": "http://127.0.0.1:9",
        "UNIPILE_API_KEY": "unused",
    }
    return Settings.from_environ(environ, env_file=None)


@pytest.fixture
async def people(sqlite_database: str) -> dict[str, Any]:
    workspace = await Workspace.create(name="Acme", slug="acme")
    other = await Workspace.create(name="Globex", slug="globex")
    alice = await User.create(workspace=workspace, email="alice@acme.test", name="Alice")
    bob = await User.create(workspace=workspace, email="bob@acme.test", name="Bob")
    stranger = await User.create(workspace=other, email="eve@globex.test", name="Eve")

    async def account(owner: User, unipile_id: str, channel: Channel, shared: bool = False) -> None:
        await Account.create(
            workspace_id=owner.workspace_id,
            owner=owner,
            shared=shared,
            channel=channel,
            provider=channel.value,
            unipile_id=unipile_id,
            name=unipile_id,
        )

    await account(alice, "alice-mail", Channel.EMAIL)
    await account(bob, "bob-whatsapp", Channel.WHATSAPP)
    await account(bob, "team-linkedin", Channel.LINKEDIN, shared=True)
    await account(stranger, "eve-mail", Channel.EMAIL, shared=True)
    return {"database": sqlite_database, "alice": alice, "stranger": stranger}


@pytest.fixture
def server(people: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    with running_app(create_app(make_settings(people["database"], tmp_path))) as url:
        yield url


def bearer(
    user: User, key: str = KEY, ttl: timedelta = timedelta(hours=1), now: datetime | None = None
) -> dict[str, str]:
    token = issue_token(Identity(user.id, user.workspace_id), key, ttl, now=now)
    return {"Authorization": f"Bearer {token}"}


async def graphql(url: str, query: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/graphql", json={"query": query}, headers=headers or {})
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


async def test_health_and_readiness(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        assert (await client.get("/healthz")).json() == {
            "status": "alive",
            "version": CHANGELOG_VERSION,
        }
        assert (await client.get("/readyz")).json() == {"status": "ready"}


async def test_the_server_reports_the_version_of_its_changelog_to_anyone(server: str) -> None:
    assert CHANGELOG_VERSION == importlib.metadata.version("switchboard")
    assert await graphql(server, "{ version }") == {"data": {"version": CHANGELOG_VERSION}}


async def test_the_viewer_sees_their_accounts_and_the_shared_ones(
    server: str, people: dict[str, Any]
) -> None:
    result = await graphql(server, VIEWER_QUERY, bearer(people["alice"]))
    assert "errors" not in result
    assert result["data"]["viewer"] == {
        "user": {"email": "alice@acme.test"},
        "workspace": {"name": "Acme", "slug": "acme"},
    }
    assert result["data"]["accounts"] == [
        {
            "externalId": "alice-mail",
            "channel": "EMAIL",
            "status": "OK",
            "shared": False,
            "isMine": True,
        },
        {
            "externalId": "team-linkedin",
            "channel": "LINKEDIN",
            "status": "OK",
            "shared": True,
            "isMine": False,
        },
    ]


async def test_graphql_over_get(server: str, people: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.get(
            "/graphql",
            params={"query": "{ viewer { user { email } } }"},
            headers=bearer(people["alice"]),
        )
    assert response.json() == {"data": {"viewer": {"user": {"email": "alice@acme.test"}}}}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no token"),
        pytest.param({"Authorization": "Bearer garbage"}, id="garbage"),
        pytest.param("expired", id="expired"),
        pytest.param("other key", id="signed by another key"),
    ],
)
async def test_unauthenticated_requests_get_no_data(
    server: str, people: dict[str, Any], headers: Any
) -> None:
    if headers == "expired":
        headers = bearer(people["alice"], now=datetime.now(UTC) - timedelta(hours=3))
    elif headers == "other key":
        headers = bearer(people["alice"], key="another-key-9876543210-zyxwvutsrqponm")
    result = await graphql(server, VIEWER_QUERY, headers)
    assert result["data"] is None
    assert {error["extensions"]["code"] for error in result["errors"]} == {"UNAUTHENTICATED"}


async def test_an_invalid_query_is_a_graphql_error_not_a_500(
    server: str, people: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.post(
            "/graphql", json={"query": "{ nope }"}, headers=bearer(people["alice"])
        )
        malformed = await client.post(
            "/graphql",
            content=b"{not json",
            headers={**bearer(people["alice"]), "content-type": "application/json"},
        )
    assert response.status_code == 200
    assert "Cannot query field 'nope'" in response.json()["errors"][0]["message"]
    assert malformed.status_code == 400


async def test_account_status_is_reported(server: str, people: dict[str, Any]) -> None:
    await Account.filter(unipile_id="alice-mail").update(
        status=AccountStatus.CREDENTIALS,
        last_error="password changed",
        status_changed_at=datetime.now(UTC),
    )
    result = await graphql(
        server, "{ accounts { externalId status lastError } }", bearer(people["alice"])
    )
    assert result["data"]["accounts"][0] == {
        "externalId": "alice-mail",
        "status": "CREDENTIALS",
        "lastError": "password changed",
    }

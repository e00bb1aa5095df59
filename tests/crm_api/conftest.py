"""Fixtures of the CRM API tests: the demo CRM beside a rival workspace, and a server for them.

The rival workspace holds a namesake of a demo contact, a contact that sorts before every demo one
and one that a demo search would find, so that any leak across workspaces shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from access.tokens import issue_token
from core.identity import Identity
from core.vocabulary import IdentifierKind
from db.models import Company, CompanyDomain, Contact, ContactIdentifier, User, Workspace
from server.app import create_app
from server.demo import load_demo
from server.settings import Settings
from unipile.sandbox.testing import running_app

SIGNING_KEY = "crm-api-test-signing-key-0123456789abcdef"
DEMO_SEED = 7
RIVAL_PEOPLE = (("Aaron", "Aardvark"), ("Jane", "Doe"), ("Zoe", "Martin"))


@dataclass(frozen=True, slots=True)
class Crm:
    demo: Identity
    rival: Identity


@dataclass(frozen=True, slots=True)
class CrmServer:
    url: str
    crm: Crm

    async def query(
        self, identity: Identity | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = {} if identity is None else {"Authorization": f"Bearer {token(identity)}"}
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        assert response.status_code == 200
        result: dict[str, Any] = response.json()
        return result


def token(identity: Identity) -> str:
    return issue_token(identity, SIGNING_KEY, timedelta(hours=1))


async def seed_crm() -> Crm:
    summary = await load_demo(DEMO_SEED)
    rival = await Workspace.create(name="Rival", slug="rival")
    eve = await User.create(workspace=rival, email="eve@rival.test", name="Eve")
    company = await Company.create(workspace=rival, name="Aardvark Rival")
    await CompanyDomain.create(workspace=rival, company=company, domain="rival.test")
    for first_name, last_name in RIVAL_PEOPLE:
        contact = await Contact.create(
            workspace=rival, first_name=first_name, last_name=last_name, company=company
        )
        email = f"{first_name}.{last_name}@rival.test".lower()
        await ContactIdentifier.create(
            workspace=rival, contact=contact, kind=IdentifierKind.EMAIL, value=email, original=email
        )
    return Crm(
        demo=Identity(summary.user_id, summary.workspace_id), rival=Identity(eve.id, rival.id)
    )


def crm_app(database_url: str, data_dir: Path) -> Starlette:
    settings = Settings.from_environ(
        {
            "DATABASE_URL": database_url,
            "JWT_SECRET": SIGNING_KEY,
            "DATA_DIR": str(data_dir),
            "UNIPILE_DSN": "http://127.0.0.1:9",
            "UNIPILE_API_KEY": "unused",
        },
        env_file=None,
    )
    return create_app(settings)


@pytest.fixture
async def crm(database: str) -> Crm:
    """The seeded CRM, on SQLite and on PostgreSQL."""
    return await seed_crm()


@pytest.fixture
async def crm_server(sqlite_database: str, tmp_path: Path) -> AsyncIterator[CrmServer]:
    crm = await seed_crm()
    with running_app(crm_app(sqlite_database, tmp_path)) as url:
        yield CrmServer(url, crm)

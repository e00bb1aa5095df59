from __future__ import annotations

import pytest
from tortoise.connection import get_connection
from tortoise.context import require_context
from tortoise.exceptions import IntegrityError
from tortoise.migrations.autodetector import MigrationAutodetector

from core.vocabulary import Channel, LinkSource, MatchMethod
from db.config import tortoise_config
from db.migrate import pending_migrations
from db.models import Account, Company, Contact, ConversationLink, User, Workspace
from tests.conftest import TABLES


async def test_migrations_build_every_table(database: str) -> None:
    connection = get_connection("default")
    for table in TABLES:
        await connection.execute_query(f"SELECT COUNT(*) FROM {table}")
    assert await pending_migrations() == []


async def test_change_detection_finds_nothing_to_migrate(database: str) -> None:
    apps_config = tortoise_config(database)["apps"]
    detector = MigrationAutodetector(require_context().apps, apps_config)
    assert await detector.changes() == []


async def _account_with_targets() -> tuple[Account, Contact, Company, User]:
    workspace = await Workspace.create(name="W", slug="w")
    user = await User.create(workspace=workspace, email="u@example.com", name="U")
    account = await Account.create(
        workspace=workspace,
        owner=user,
        channel=Channel.EMAIL,
        provider="GOOGLE_OAUTH",
        unipile_id="acc-1",
        name="u@example.com",
    )
    company = await Company.create(workspace=workspace, name="Acme")
    contact = await Contact.create(workspace=workspace, first_name="Jane", company=company)
    return account, contact, company, user


async def test_a_link_names_exactly_one_target(database: str) -> None:
    account, contact, company, user = await _account_with_targets()
    with pytest.raises(IntegrityError):
        await ConversationLink.create(
            workspace_id=account.workspace_id,
            account=account,
            conversation_external_id="c1",
            contact=contact,
            company=company,
            source=LinkSource.USER,
            created_by=user,
        )
    with pytest.raises(IntegrityError):
        await ConversationLink.create(
            workspace_id=account.workspace_id,
            account=account,
            conversation_external_id="c1",
            source=LinkSource.USER,
            created_by=user,
        )


async def test_a_link_names_its_author(database: str) -> None:
    account, contact, _, _ = await _account_with_targets()
    with pytest.raises(IntegrityError):
        await ConversationLink.create(
            workspace_id=account.workspace_id,
            account=account,
            conversation_external_id="c1",
            contact=contact,
            source=LinkSource.MATCHER,
        )
    await ConversationLink.create(
        workspace_id=account.workspace_id,
        account=account,
        conversation_external_id="c1",
        contact=contact,
        source=LinkSource.MATCHER,
        rule=MatchMethod.EMAIL,
    )


async def test_a_conversation_links_a_contact_once(database: str) -> None:
    account, contact, _, user = await _account_with_targets()
    fields = dict(
        workspace_id=account.workspace_id,
        account=account,
        conversation_external_id="c1",
        contact=contact,
        source=LinkSource.USER,
        created_by=user,
    )
    await ConversationLink.create(**fields)
    with pytest.raises(IntegrityError):
        await ConversationLink.create(**fields)

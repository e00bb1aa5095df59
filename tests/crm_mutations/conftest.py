"""The served app over the sandbox's demo data (tests/inbox), and a rival workspace beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from access.tokens import issue_token
from core.identity import Identity
from core.vocabulary import IdentifierKind, Role
from db.models import Company, CompanyDomain, Contact, ContactIdentifier, User, Workspace
from tests.inbox.conftest import SIGNING_KEY, Inbox, demo_tokens, inbox, sandbox_url  # noqa: F401


@dataclass(frozen=True, slots=True)
class Rival:
    """Another workspace, with a company and a contact the demo users must never reach."""

    contact: Contact
    company: Company


@pytest.fixture
async def rival(inbox: Inbox) -> Rival:  # noqa: F811 (pytest passes the fixture imported above)
    workspace = await Workspace.create(name="Rival", slug="rival")
    # The rival workspace's only user administers it.
    eve = await User.create(
        workspace=workspace, email="eve@rival.test", name="Eve", role=Role.ADMIN
    )
    company = await Company.create(workspace=workspace, name="Rival Corp")
    await CompanyDomain.create(workspace=workspace, company=company, domain="rival.test")
    contact = await Contact.create(
        workspace=workspace, first_name="Eve", last_name="Rival", company=company
    )
    await ContactIdentifier.create(
        workspace=workspace,
        contact=contact,
        kind=IdentifierKind.EMAIL,
        value="eve@rival.test",
        original="eve@rival.test",
    )
    inbox.tokens["eve"] = issue_token(
        Identity(eve.id, workspace.id), SIGNING_KEY, timedelta(hours=1)
    )
    return Rival(contact, company)

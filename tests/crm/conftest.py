"""CRM records to match against, stored through the write-path normalisers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from tortoise.log import db_client_logger

from core.vocabulary import IdentifierKind
from crm import Rejected, normalize_company_domain, normalize_contact_identifier
from db.metrics import install_query_counter
from db.models import Company, CompanyDomain, Contact, ContactIdentifier, Workspace

REGION = "FR"


async def add_company(workspace: Workspace, name: str, *domains: str) -> Company:
    company = await Company.create(workspace=workspace, name=name)
    for raw in domains:
        domain = normalize_company_domain(raw)
        assert not isinstance(domain, Rejected), raw
        await CompanyDomain.create(workspace=workspace, company=company, domain=domain)
    return company


async def add_contact(
    workspace: Workspace,
    name: str,
    company: Company | None = None,
    **identifiers: str,
) -> Contact:
    """`identifiers`: `email=`, `phone=` or `provider_id=`, spelled as a user would type them."""
    first_name, _, last_name = name.partition(" ")
    contact = await Contact.create(
        workspace=workspace, first_name=first_name, last_name=last_name, company=company
    )
    for kind, raw in identifiers.items():
        identifier = normalize_contact_identifier(
            IdentifierKind(kind.upper()), raw, region=workspace.default_region
        )
        assert not isinstance(identifier, Rejected), raw
        await ContactIdentifier.create(
            workspace=workspace,
            contact=contact,
            kind=identifier.kind,
            value=identifier.value,
            original=raw,
        )
    return contact


@dataclass(frozen=True)
class Crm:
    workspace: Workspace
    acme: Company
    globex: Company
    initech: Company


@pytest.fixture
async def crm_records(database: str) -> Crm:
    """One workspace (default region FR) holding every awkward case the matcher meets."""
    workspace = await Workspace.create(name="W", slug="w", default_region=REGION)
    other = await Workspace.create(name="Other", slug="other", default_region=REGION)
    acme = await add_company(workspace, "Acme", "acme-corp.com")
    globex = await add_company(workspace, "Globex", "https://www.Globex.co.uk/about")
    initech = await add_company(workspace, "Initech")
    await add_company(workspace, "Mail giant", "gmail.com")
    await add_contact(workspace, "Jane Doe", acme, email="Jane.Doe@Acme-Corp.com")
    await add_contact(workspace, "Jane Billing", acme, email="jane+billing@acme-corp.com")
    await add_contact(workspace, "Jane Plain", globex, email="jane@acme-corp.com")
    await add_contact(workspace, "Gary Gmail", email="gary@gmail.com")
    await add_contact(workspace, "Fred Français", initech, phone="06 12 34 56 78")
    await add_contact(workspace, "Brenda British", globex, phone="+44 7911 123456")
    await add_contact(workspace, "Tom Twin", acme, email="team@globex.co.uk", phone="+33698765432")
    await add_contact(workspace, "Tim Twin", globex, email="TEAM@globex.co.uk", phone="0698765432")
    await add_contact(workspace, "Lina Linked", provider_id=" ACoAABxyz ")
    await add_contact(workspace, "Anna Umlaut", email="anna@bücher.de")
    await add_contact(workspace, "Own Self", acme, email="me@acme-corp.com", phone="0611111111")
    await add_contact(other, "Elsewhere Jane", email="jane.doe@acme-corp.com")
    return Crm(workspace, acme, globex, initech)


@contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    install_query_counter()
    statements: list[str] = []

    def record(entry: logging.LogRecord) -> bool:
        if entry.msg == "%s: %s" and isinstance(entry.args, tuple):
            statements.append(str(entry.args[0]))
        elif not entry.args:
            statements.append(str(entry.msg))
        return True

    # First in line: a filter that drops a record hides it from the filters after it.
    db_client_logger.filters.insert(0, record)
    try:
        yield statements
    finally:
        db_client_logger.removeFilter(record)

"""createCompany, updateCompany and deleteCompany over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from core.ids import int_key, to_global_id
from db.models import Company, CompanyDomain, Contact
from tests.crm_mutations.conftest import Rival
from tests.crm_mutations.graphql import (
    CREATE_COMPANY,
    CREATE_CONTACT,
    DELETE_COMPANY,
    UPDATE_COMPANY,
    fail,
    succeed,
)
from tests.inbox.conftest import Inbox


async def test_create_company_keeps_registrable_domains(inbox: Inbox) -> None:
    payload = await succeed(
        inbox,
        CREATE_COMPANY,
        {
            "name": " Vandelay ",
            "domains": ["https://www.Vandelay.co.uk/about", "eu.vandelay.co.uk", "vandelay.com"],
        },
    )
    assert payload["company"]["name"] == "Vandelay"
    assert payload["company"]["domains"] == ["vandelay.co.uk", "vandelay.com"]


async def test_invalid_or_taken_domains_write_nothing(inbox: Inbox, rival: Rival) -> None:
    before = await Company.all().count()
    error = await fail(inbox, CREATE_COMPANY, {"name": "X", "domains": ["x.org", "co.uk"]})
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "domains[1]")
    # acme-corp.com is the demo's Acme Corp's.
    error = await fail(
        inbox, CREATE_COMPANY, {"name": "Y", "domains": ["y.org", "https://www.acme-corp.com/"]}
    )
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "domains[1]")
    error = await fail(inbox, CREATE_COMPANY, {"name": "  ", "domains": []})
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "name")
    assert await Company.all().count() == before
    # Another workspace's domain is no clash: workspaces do not see each other.
    await succeed(inbox, CREATE_COMPANY, {"name": "Rival's namesake", "domains": ["rival.test"]})


async def test_update_replaces_the_domains_and_may_keep_its_own(inbox: Inbox) -> None:
    created = (
        await succeed(inbox, CREATE_COMPANY, {"name": "Pied Piper", "domains": ["piedpiper.com"]})
    )["company"]
    updated = (
        await succeed(
            inbox,
            UPDATE_COMPANY,
            {"id": created["id"], "domains": ["piedpiper.com", "piedpiper.io"]},
        )
    )["company"]
    assert (updated["name"], updated["domains"]) == (
        "Pied Piper",
        ["piedpiper.com", "piedpiper.io"],
    )
    renamed = (await succeed(inbox, UPDATE_COMPANY, {"id": created["id"], "name": "Pied Piper 2"}))[
        "company"
    ]
    assert (renamed["name"], renamed["domains"]) == (
        "Pied Piper 2",
        ["piedpiper.com", "piedpiper.io"],
    )
    error = await fail(inbox, UPDATE_COMPANY, {"id": created["id"], "domains": ["acme-corp.com"]})
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "domains[0]")
    assert await CompanyDomain.filter(company_id=int_key(created["id"], "Company")).count() == 2


async def test_delete_company_keeps_its_contacts(inbox: Inbox) -> None:
    company = (
        await succeed(inbox, CREATE_COMPANY, {"name": "Bachmanity", "domains": ["bachmanity.xyz"]})
    )["company"]
    contact = (
        await succeed(
            inbox,
            CREATE_CONTACT,
            {"firstName": "Gavin", "lastName": "Belson", "companyId": company["id"]},
        )
    )["contact"]
    assert (await succeed(inbox, DELETE_COMPANY, {"id": company["id"]}))["deletedId"] == company[
        "id"
    ]
    kept = await Contact.get(id=int_key(contact["id"], "Contact"))
    assert kept.company_id is None
    assert not await CompanyDomain.exists(domain="bachmanity.xyz")
    error = await fail(inbox, DELETE_COMPANY, {"id": company["id"]})
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")


async def test_another_workspace_s_company_is_not_found(inbox: Inbox, rival: Rival) -> None:
    rival_id = to_global_id("Company", rival.company.id)
    for document, given in (
        (UPDATE_COMPANY, {"id": rival_id, "name": "Taken over"}),
        (DELETE_COMPANY, {"id": rival_id}),
    ):
        error = await fail(inbox, document, given)
        assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    assert (await Company.get(id=rival.company.id)).name == "Rival Corp"

"""createContact, updateContact and deleteContact over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from core.ids import int_key, to_global_id
from db.models import Company, Contact, ContactIdentifier, Workspace
from tests.crm_mutations.conftest import Rival
from tests.crm_mutations.graphql import (
    CREATE_CONTACT,
    DELETE_CONTACT,
    UPDATE_CONTACT,
    call,
    fail,
    succeed,
)
from tests.inbox.conftest import Inbox


async def demo_company_id() -> str:
    workspace = await Workspace.get(slug="demo")
    company = await Company.filter(workspace=workspace).order_by("id").first()
    assert company is not None
    return to_global_id("Company", company.id)


async def test_create_contact_normalises_and_keeps_what_was_typed(inbox: Inbox) -> None:
    company_id = await demo_company_id()
    payload = await succeed(
        inbox,
        CREATE_CONTACT,
        {
            "firstName": " Nina ",
            "lastName": "Keller",
            "companyId": company_id,
            # The second address is the first in another spelling: one identifier.
            "emails": ["Nina.Keller@Example.org ", "nina.keller@example.org"],
            "phones": ["06 12 34 56 78"],
            "providerIds": ["ACoAAB1234"],
        },
    )
    contact = payload["contact"]
    assert (contact["firstName"], contact["lastName"], contact["name"]) == (
        "Nina",
        "Keller",
        "Nina Keller",
    )
    assert contact["company"]["id"] == company_id
    assert contact["emails"] == [
        {"value": "nina.keller@example.org", "original": "Nina.Keller@Example.org"}
    ]
    # The demo workspace's default region (FR) reads the national number.
    assert contact["phones"] == [{"value": "+33612345678", "original": "06 12 34 56 78"}]
    assert contact["providerIds"] == [{"value": "ACoAAB1234", "original": "ACoAAB1234"}]
    stored = await Contact.get(first_name="Nina", last_name="Keller")
    assert await ContactIdentifier.filter(contact=stored).count() == 3


@pytest.mark.parametrize(
    ("lists", "field"),
    [
        pytest.param({"emails": ["ok@example.org", "not an address"]}, "emails[1]", id="email"),
        pytest.param({"phones": ["12"]}, "phones[0]", id="phone"),
        pytest.param({"providerIds": ["  "]}, "providerIds[0]", id="provider id"),
    ],
)
async def test_an_invalid_identifier_writes_nothing(
    inbox: Inbox, lists: dict[str, list[str]], field: str
) -> None:
    before = await Contact.all().count()
    error = await fail(inbox, CREATE_CONTACT, {"firstName": "Bad", "lastName": "Input", **lists})
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", field)
    assert await Contact.all().count() == before


async def test_unknown_and_other_workspace_companies_are_not_found(
    inbox: Inbox, rival: Rival
) -> None:
    for company_id in (to_global_id("Company", 999_999), to_global_id("Company", rival.company.id)):
        error = await fail(
            inbox, CREATE_CONTACT, {"firstName": "A", "lastName": "B", "companyId": company_id}
        )
        assert (error["code"], error["field"]) == ("NOT_FOUND", "companyId")
    error = await fail(
        inbox,
        CREATE_CONTACT,
        {"firstName": "A", "lastName": "B", "companyId": to_global_id("Contact", 1)},
    )
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "companyId")


async def test_update_replaces_only_the_lists_given(inbox: Inbox) -> None:
    created = (
        await succeed(
            inbox,
            CREATE_CONTACT,
            {
                "firstName": "Omar",
                "lastName": "Haddad",
                "companyId": await demo_company_id(),
                "emails": ["omar@example.org", "o.haddad@example.org"],
                "phones": ["+44 20 7946 0958"],
            },
        )
    )["contact"]
    updated = (
        await succeed(
            inbox,
            UPDATE_CONTACT,
            {
                "id": created["id"],
                "lastName": "Haddad-Smith",
                "emails": ["O.Haddad@example.org", "omar.h@example.org"],
                "companyId": None,
            },
        )
    )["contact"]
    assert (updated["firstName"], updated["lastName"]) == ("Omar", "Haddad-Smith")
    assert updated["company"] is None
    # The address kept keeps the spelling first entered; the phones were not given.
    assert updated["emails"] == [
        {"value": "o.haddad@example.org", "original": "o.haddad@example.org"},
        {"value": "omar.h@example.org", "original": "omar.h@example.org"},
    ]
    assert updated["phones"] == created["phones"]
    emptied = (await succeed(inbox, UPDATE_CONTACT, {"id": created["id"], "emails": []}))["contact"]
    assert emptied["emails"] == []
    assert emptied["company"] is None, "a company left out stays as it is"


async def test_an_invalid_update_changes_nothing(inbox: Inbox) -> None:
    created = (
        await succeed(
            inbox, CREATE_CONTACT, {"firstName": "Ada", "lastName": "L", "emails": ["ada@x.org"]}
        )
    )["contact"]
    error = await fail(
        inbox,
        UPDATE_CONTACT,
        {"id": created["id"], "firstName": "Changed", "emails": ["ada@x.org", "ada@"]},
    )
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "emails[1]")
    contact = await Contact.get(id=int_key(created["id"], "Contact"))
    assert contact.first_name == "Ada"
    assert await ContactIdentifier.filter(contact=contact).count() == 1


async def test_delete_contact_then_it_is_gone(inbox: Inbox) -> None:
    created = (
        await succeed(
            inbox, CREATE_CONTACT, {"firstName": "Temp", "lastName": "T", "emails": ["t@x.org"]}
        )
    )["contact"]
    payload = await succeed(inbox, DELETE_CONTACT, {"id": created["id"]})
    assert payload["deletedId"] == created["id"]
    assert await ContactIdentifier.filter(value="t@x.org").count() == 0
    error = await fail(inbox, DELETE_CONTACT, {"id": created["id"]})
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")


async def test_another_workspace_s_contact_is_not_found(inbox: Inbox, rival: Rival) -> None:
    rival_id = to_global_id("Contact", rival.contact.id)
    for document, given in (
        (UPDATE_CONTACT, {"id": rival_id, "firstName": "Hacked"}),
        (DELETE_CONTACT, {"id": rival_id}),
    ):
        error = await fail(inbox, document, given)
        assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    contact = await Contact.get(id=rival.contact.id)
    assert contact.first_name == "Eve"
    # The rival's own user reaches it.
    payload = await succeed(
        inbox, UPDATE_CONTACT, {"id": rival_id, "firstName": "Evelyn"}, user="eve"
    )
    assert payload["contact"]["firstName"] == "Evelyn"


async def test_without_a_token_the_mutation_fails_at_the_top(inbox: Inbox) -> None:
    inbox.tokens["nobody"] = "not-a-token"
    result = await inbox.query(
        CREATE_CONTACT, {"input": {"firstName": "A", "lastName": "B"}}, user="nobody"
    )
    assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_null_first_name_on_update_is_refused(inbox: Inbox) -> None:
    created = (await succeed(inbox, CREATE_CONTACT, {"firstName": "X", "lastName": "Y"}))["contact"]
    result = await inbox.query(UPDATE_CONTACT, {"input": {"id": created["id"], "firstName": None}})
    assert "errors" in result
    assert (await call(inbox, UPDATE_CONTACT, {"id": created["id"]}))["contact"]["name"] == "X Y"

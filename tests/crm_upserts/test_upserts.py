"""upsertContacts and upsertCompanies through the served app: outcomes per item, in order."""

from __future__ import annotations

from typing import Any

from core.errors import ErrorCode
from crm.upserts import MAX_RECORDS
from db.models import Contact, Workspace
from tests.crm_mutations.conftest import Rival
from tests.crm_mutations.graphql import CREATE_CONTACT, UPDATE_CONTACT, fail, succeed
from tests.crm_upserts.graphql import UPSERT_CONTACTS, call, upsert_companies, upsert_contacts
from tests.inbox.conftest import Inbox


def jane(**changes: Any) -> dict[str, Any]:
    return {
        "externalId": "crm-jane",
        "firstName": "Jane",
        "lastName": "Upsert",
        "emails": ["Jane.Upsert@Example-Upsert.com"],
        "phones": ["+33 6 12 34 56 70"],
        **changes,
    }


def outcomes(results: list[dict[str, Any]]) -> list[str]:
    return [result["outcome"] for result in results]


async def test_created_then_unchanged_then_updated_with_identifiers_replaced(inbox: Inbox) -> None:
    [created] = await upsert_contacts(inbox, [jane()])
    assert created["outcome"] == "CREATED" and created["error"] is None
    contact = created["contact"]
    assert contact["externalId"] == "crm-jane"
    assert [e["value"] for e in contact["emails"]] == ["jane.upsert@example-upsert.com"]
    assert [p["value"] for p in contact["phones"]] == ["+33612345670"]

    [again] = await upsert_contacts(inbox, [jane(externalId="  crm-jane ")])
    assert again["outcome"] == "UNCHANGED"
    assert again["contact"]["id"] == contact["id"]

    [changed] = await upsert_contacts(
        inbox, [jane(lastName="Doe", emails=["jd@example-upsert.com"])]
    )
    assert changed["outcome"] == "UPDATED"
    assert changed["contact"]["id"] == contact["id"]
    assert changed["contact"]["lastName"] == "Doe"
    assert [e["value"] for e in changed["contact"]["emails"]] == ["jd@example-upsert.com"]
    # A list left out is an empty list: the upsert sets the whole record.
    [no_phone] = await upsert_contacts(
        inbox, [jane(lastName="Doe", emails=["jd@example-upsert.com"], phones=[])]
    )
    assert no_phone["outcome"] == "UPDATED" and no_phone["contact"]["phones"] == []
    assert await Contact.filter(external_id="crm-jane").count() == 1


async def test_a_bad_item_is_rejected_and_the_others_are_written(inbox: Inbox) -> None:
    results = await upsert_contacts(
        inbox,
        [
            jane(externalId="ok-1"),
            jane(externalId="bad-email", emails=["not an address"]),
            jane(externalId="x" * 256),
            jane(externalId="long-name", firstName="n" * 10_000),
            jane(externalId="tab\there"),
            jane(externalId="   "),
            jane(externalId="both", companyId="Q29tcGFueTox", companyExternalId="c-1"),
            jane(externalId="ghost-company", companyExternalId="no-such-company"),
            jane(externalId="forged-company", companyId="../../etc/passwd"),
            jane(externalId="ok-2"),
        ],
    )
    assert outcomes(results) == ["CREATED", *["REJECTED"] * 8, "CREATED"]
    fields = [r["error"]["field"] for r in results[1:-1]]
    assert fields == [
        "emails[0]",
        "externalId",
        "firstName",
        "externalId",
        "externalId",
        "companyExternalId",
        "companyExternalId",
        "companyId",
    ]
    assert results[7]["error"]["code"] == ErrorCode.NOT_FOUND
    assert all(r["contact"] is None for r in results[1:-1])
    written = await Contact.filter(
        external_id__in=[r["externalId"] for r in results if r["externalId"]]
    )
    assert sorted(c.external_id for c in written) == ["ok-1", "ok-2"]


async def test_the_first_of_two_items_with_one_external_id_wins(inbox: Inbox) -> None:
    results = await upsert_contacts(inbox, [jane(firstName="First"), jane(firstName="Second")])
    assert outcomes(results) == ["CREATED", "REJECTED"]
    assert results[1]["error"] == {
        "code": "CONFLICT",
        "message": "this external id is given earlier in the same call",
        "field": "externalId",
    }
    assert (await Contact.get(external_id="crm-jane")).first_name == "First"


async def test_more_than_the_maximum_is_refused_whole(inbox: Inbox) -> None:
    before = await Contact.all().count()
    items = [jane(externalId=f"many-{i}", emails=[], phones=[]) for i in range(MAX_RECORDS + 1)]
    payload = await call(inbox, UPSERT_CONTACTS, {"contacts": items})
    assert payload["results"] == []
    assert payload["error"]["code"] == "BAD_USER_INPUT"
    assert payload["error"]["field"] == "contacts"
    assert await Contact.all().count() == before


async def test_another_workspace_s_external_id_is_another_record(
    inbox: Inbox, rival: Rival
) -> None:
    [mine] = await upsert_contacts(inbox, [jane()])
    [theirs] = await upsert_contacts(inbox, [jane(firstName="Eve's")], user="eve")
    assert theirs["outcome"] == "CREATED"
    assert theirs["contact"]["id"] != mine["contact"]["id"]
    [still] = await upsert_contacts(inbox, [jane()])
    assert still["outcome"] == "UNCHANGED" and still["contact"]["firstName"] == "Jane"
    # Eve cannot reach Alice's contact through the other mutations either.
    error = await fail(
        inbox, UPDATE_CONTACT, {"id": mine["contact"]["id"], "firstName": "X"}, user="eve"
    )
    assert error["code"] == "NOT_FOUND"
    rival_workspace = await Workspace.get(slug="rival")
    assert await Contact.filter(workspace=rival_workspace, external_id="crm-jane").count() == 1


async def test_companies_then_contacts_by_company_external_id(inbox: Inbox) -> None:
    companies = await upsert_companies(
        inbox,
        [
            {
                "externalId": "co-acme",
                "name": "Acme Upsert",
                "domains": ["https://www.acme-upsert.com/x"],
            },
            {"externalId": "co-clash", "name": "Clash", "domains": ["acme-upsert.com"]},
            {"externalId": "co-empty", "name": "  "},
        ],
    )
    assert outcomes(companies) == ["CREATED", "REJECTED", "REJECTED"]
    assert companies[0]["company"]["domains"] == ["acme-upsert.com"]
    assert companies[1]["error"]["field"] == "domains[0]"
    assert companies[2]["error"]["field"] == "name"
    [unchanged] = await upsert_companies(
        inbox, [{"externalId": "co-acme", "name": "Acme Upsert", "domains": ["acme-upsert.com"]}]
    )
    assert unchanged["outcome"] == "UNCHANGED"
    [contact] = await upsert_contacts(inbox, [jane(companyExternalId="co-acme")])
    assert contact["contact"]["company"] == {
        "id": companies[0]["company"]["id"],
        "name": "Acme Upsert",
    }
    [moved] = await upsert_companies(
        inbox, [{"externalId": "co-acme", "name": "Acme", "domains": ["acme-moved.com"]}]
    )
    assert moved["outcome"] == "UPDATED" and moved["company"]["domains"] == ["acme-moved.com"]
    # The domain it gave up is free for another company.
    [taker] = await upsert_companies(
        inbox, [{"externalId": "co-taker", "name": "Taker", "domains": ["acme-upsert.com"]}]
    )
    assert taker["outcome"] == "CREATED"


async def test_create_and_update_take_an_external_id_unique_in_the_workspace(
    inbox: Inbox, rival: Rival
) -> None:
    created = await succeed(
        inbox, CREATE_CONTACT, {"firstName": "A", "lastName": "B", "externalId": " ext-1 "}
    )
    contact_id = created["contact"]["id"]
    assert (await Contact.get(external_id="ext-1")).first_name == "A"
    error = await fail(
        inbox, CREATE_CONTACT, {"firstName": "C", "lastName": "D", "externalId": "ext-1"}
    )
    assert error["code"] == "CONFLICT" and error["field"] == "externalId"
    other = await succeed(inbox, CREATE_CONTACT, {"firstName": "C", "lastName": "D"})
    error = await fail(inbox, UPDATE_CONTACT, {"id": other["contact"]["id"], "externalId": "ext-1"})
    assert error["code"] == "CONFLICT" and error["field"] == "externalId"
    error = await fail(inbox, UPDATE_CONTACT, {"id": contact_id, "externalId": "a\x07b"})
    assert error["field"] == "externalId"
    # The same external id in another workspace is no conflict.
    await succeed(
        inbox,
        CREATE_CONTACT,
        {"firstName": "E", "lastName": "F", "externalId": "ext-1"},
        user="eve",
    )
    await succeed(inbox, UPDATE_CONTACT, {"id": contact_id, "externalId": None})
    assert await Contact.filter(external_id="ext-1").count() == 1

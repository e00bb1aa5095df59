"""What an upsert costs (a fixed number of queries, however many records) and what it changes in
the inbox at once."""

from __future__ import annotations

from typing import Any

from crm.upserts import MAX_RECORDS
from tests.crm_upserts.graphql import UPSERT_CONTACTS
from tests.inbox.conftest import Inbox
from tests.inbox.test_conversations import PAGE, hold_automatic_storage


def contacts(count: int, prefix: str, last_name: str) -> list[dict[str, Any]]:
    return [
        {
            "externalId": f"{prefix}-{i}",
            "firstName": "Many",
            "lastName": last_name,
            "emails": [f"{prefix}.{i}@example-many.com"],
            "phones": [f"+1 415 555 {i:04d}"],
            "companyExternalId": "co-many",
        }
        for i in range(count)
    ]


async def cost(inbox: Inbox, items: list[dict[str, Any]]) -> int:
    result = await inbox.query(UPSERT_CONTACTS, {"input": {"contacts": items}})
    assert "errors" not in result, result["errors"]
    payload = result["data"]["upsertContacts"]
    assert payload["error"] is None and all(r["error"] is None for r in payload["results"])
    queries: int = result["extensions"]["cost"]["dbQueries"]
    return queries


async def test_one_and_a_thousand_records_cost_the_same_queries(inbox: Inbox) -> None:
    companies = """mutation { upsertCompanies(input: {companies: [{externalId: "co-many",
        name: "Many"}]}) { results { outcome } } }"""
    assert "errors" not in await inbox.query(companies, {})
    created_one = await cost(inbox, contacts(1, "one", "A"))
    created_many = await cost(inbox, contacts(MAX_RECORDS, "many", "A"))
    assert created_one == created_many
    updated_one = await cost(inbox, contacts(1, "one", "B"))
    updated_many = await cost(inbox, contacts(MAX_RECORDS, "many", "B"))
    assert updated_one == updated_many
    unchanged_many = await cost(inbox, contacts(MAX_RECORDS, "many", "B"))
    assert unchanged_many < updated_many
    assert created_many <= 12


async def test_a_live_conversation_shows_the_new_contact_on_the_next_read(inbox: Inbox) -> None:
    await hold_automatic_storage()
    result = await inbox.query(PAGE, {"first": 20})
    assert "errors" not in result, result["errors"]
    stranger = next(
        participant
        for edge in result["data"]["conversations"]["edges"]
        for participant in edge["node"]["participants"]
        if not participant["isSelf"]
        and participant["emailAddress"]
        and participant["crmMatch"]["contact"] is None
        and not participant["crmMatch"]["ambiguous"]
    )
    upsert = await inbox.query(
        UPSERT_CONTACTS,
        {
            "input": {
                "contacts": [
                    {
                        "externalId": "crm-stranger",
                        "firstName": "Now",
                        "lastName": "Known",
                        "emails": [stranger["emailAddress"]],
                    }
                ]
            }
        },
    )
    [created] = upsert["data"]["upsertContacts"]["results"]
    assert created["outcome"] == "CREATED"
    again = await inbox.query(PAGE, {"first": 20})
    matched = {
        participant["crmMatch"]["contact"]["id"]
        for edge in again["data"]["conversations"]["edges"]
        for participant in edge["node"]["participants"]
        if participant["emailAddress"] == stranger["emailAddress"]
        and participant["crmMatch"]["contact"] is not None
    }
    assert matched == {created["contact"]["id"]}

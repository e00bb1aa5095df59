"""The CRM fields over HTTP: the server, its authentication and its error codes, on SQLite."""

from __future__ import annotations

from typing import Any

import pytest

from core.cursors import CursorCodec, ViewerCursors
from crm.reading import COMPANIES, list_key
from tests.crm_api.conftest import SIGNING_KEY, CrmServer

CONTACT_FIELDS = """
    id firstName lastName name createdAt updatedAt
    company { id name domains }
    emails { value original } phones { value original } providerIds { value original }
"""


def contacts_query(arguments: str, fields: str = "name") -> str:
    return f"""{{ contacts({arguments}) {{
        totalCount
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
        edges {{ cursor node {{ {fields} }} }}
    }} }}"""


def companies_query(arguments: str) -> str:
    return (
        f"{{ companies({arguments}) {{ totalCount edges {{ cursor node {{ name domains }} }} }} }}"
    )


def data(result: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in result, result["errors"]
    payload: dict[str, Any] = result["data"]
    return payload


async def demo_contacts(server: CrmServer, arguments: str, fields: str = "name") -> dict[str, Any]:
    connection: dict[str, Any] = data(
        await server.query(server.crm.demo, contacts_query(arguments, fields))
    )["contacts"]
    return connection


def names(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in connection["edges"]]


async def test_paging_by_7_follows_cursors_to_the_list_of_one_page_of_100(
    crm_server: CrmServer,
) -> None:
    whole = await demo_contacts(crm_server, "first: 100")
    assert whole["pageInfo"]["hasNextPage"] is False
    paged: list[dict[str, Any]] = []
    after = "null"
    while True:
        page = await demo_contacts(crm_server, f"first: 7, after: {after}")
        assert page["totalCount"] == whole["totalCount"] == 33
        assert page["pageInfo"]["hasPreviousPage"] is (after != "null")
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        paged += page["edges"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = f'"{page["pageInfo"]["endCursor"]}"'
    assert paged == whole["edges"]
    assert len(paged) == 33


async def test_a_contact_carries_its_company_and_identifiers(crm_server: CrmServer) -> None:
    [edge] = (await demo_contacts(crm_server, 'search: "jane doe"', CONTACT_FIELDS))["edges"]
    jane = edge["node"]
    assert jane["name"] == "Jane Doe"
    assert (jane["firstName"], jane["lastName"]) == ("Jane", "Doe")
    assert jane["company"]["name"] == "Acme Corp"
    assert jane["company"]["domains"] == ["acme-corp.com"]
    assert jane["emails"] == [
        {"value": "jane.doe@acme-corp.com", "original": "jane.doe@acme-corp.com"}
    ]
    assert jane["phones"] == [{"value": "+33793080592", "original": "07 93 08 05 92"}]
    assert [value["value"] for value in jane["providerIds"]] == [
        "ACoAAFaPjDk8olDlDOjIaikjrGkMGtknfixd7XP"
    ]
    assert jane["createdAt"] and jane["updatedAt"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("martin", ["Claire Martin", "Paul Martin"], id="last name, not the rival's"),
        pytest.param("GEORGE schmidt", ["George Schmidt"], id="every word, any case"),
        pytest.param("hooli.io", ["Adam Durand", "Julie Durand", "Manon Weber"], id="email"),
        pytest.param("06 20 43 59 65", ["Emma Moreau", "Luc Moreau"], id="phone as entered"),
        pytest.param("+4917081558885", ["Théo Weber"], id="phone normalised"),
        pytest.param("acoaaz2pw", ["George Lambert"], id="provider id"),
        pytest.param("100%_", [], id="LIKE wildcards are literal"),
    ],
)
async def test_contacts_search(crm_server: CrmServer, search: str, expected: list[str]) -> None:
    found = await demo_contacts(crm_server, f'first: 100, search: "{search}"')
    assert sorted(names(found)) == expected
    assert found["totalCount"] == len(expected)


async def test_a_blank_search_is_no_search(crm_server: CrmServer) -> None:
    assert (await demo_contacts(crm_server, 'search: "   "'))["totalCount"] == 33


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("initech.com", ["Initech"], id="a second domain"),
        pytest.param("STARK", ["Stark Industries"], id="name, any case"),
        pytest.param("co.uk", ["Globex", "Wayne Enterprises"], id="domain"),
        pytest.param("rival", [], id="not the rival's"),
    ],
)
async def test_companies_search(crm_server: CrmServer, search: str, expected: list[str]) -> None:
    result = data(
        await crm_server.query(crm_server.crm.demo, companies_query(f'search: "{search}"'))
    )
    assert [edge["node"]["name"] for edge in result["companies"]["edges"]] == expected
    assert result["companies"]["totalCount"] == len(expected)


async def test_companies_are_ordered_by_name(crm_server: CrmServer) -> None:
    result = data(await crm_server.query(crm_server.crm.demo, companies_query("first: 3")))
    assert result["companies"]["totalCount"] == 8
    assert [edge["node"]["name"] for edge in result["companies"]["edges"]] == [
        "Acme Corp",
        "Globex",
        "Hooli",
    ]


async def test_each_workspace_sees_only_its_own_crm(crm_server: CrmServer) -> None:
    query = contacts_query("first: 100", "id name")
    rival = data(await crm_server.query(crm_server.crm.rival, query))["contacts"]
    demo = data(await crm_server.query(crm_server.crm.demo, query))["contacts"]
    assert names(rival) == ["Aaron Aardvark", "Jane Doe", "Zoe Martin"]
    assert rival["totalCount"] == 3
    assert "Aaron Aardvark" not in names(demo)
    assert names(demo).count("Jane Doe") == 1
    assert not {edge["node"]["id"] for edge in rival["edges"]} & {
        edge["node"]["id"] for edge in demo["edges"]
    }


# Sealed with the server's key for the first user (the demo's alice) but for the companies list.
COMPANIES_CURSOR = ViewerCursors(CursorCodec(SIGNING_KEY), 1).offset(list_key(COMPANIES, None), 2)


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param("first: 0", id="first 0"),
        pytest.param("first: 101", id="first 101"),
        pytest.param("first: -1", id="first -1"),
        pytest.param('after: "garbage"', id="garbage cursor"),
        pytest.param(f'after: "{COMPANIES_CURSOR}"', id="a companies cursor"),
    ],
)
async def test_bad_page_arguments_are_bad_user_input(crm_server: CrmServer, arguments: str) -> None:
    result = await crm_server.query(crm_server.crm.demo, contacts_query(arguments))
    assert result["data"] is None
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


async def test_a_contacts_cursor_is_refused_by_companies(crm_server: CrmServer) -> None:
    cursor = (await demo_contacts(crm_server, "first: 2"))["pageInfo"]["endCursor"]
    result = await crm_server.query(crm_server.crm.demo, companies_query(f'after: "{cursor}"'))
    assert [error["extensions"]["code"] for error in result["errors"]] == ["BAD_USER_INPUT"]


async def test_an_anonymous_request_is_unauthenticated(crm_server: CrmServer) -> None:
    result = await crm_server.query(None, contacts_query("first: 1"))
    assert result["data"] is None
    assert [error["extensions"]["code"] for error in result["errors"]] == ["UNAUTHENTICATED"]


async def test_node_refetches_contacts_and_companies_of_the_viewer_only(
    crm_server: CrmServer,
) -> None:
    query = contacts_query("first: 1", "id company { id }")
    rival_node = data(await crm_server.query(crm_server.crm.rival, query))["contacts"]["edges"][0]
    demo_node = (await demo_contacts(crm_server, "first: 1", "id company { id }"))["edges"][0]
    ids = [
        node_id
        for edge in (rival_node, demo_node)
        for node_id in (edge["node"]["id"], edge["node"]["company"]["id"])
    ]
    refetch = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    result = data(await crm_server.query(crm_server.crm.demo, refetch, {"ids": ids}))
    assert result["nodes"] == [None, None, {"id": ids[2]}, {"id": ids[3]}]

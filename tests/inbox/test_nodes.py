from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from core.identity import Identity
from core.ids import to_global_id
from db.metrics import QueryCounter
from db.models import Company, Contact, User, Workspace
from resolvers.context import Context
from schema.nodes import resolve_nodes
from server.demo import DEMO_USERS
from tests.inbox.conftest import Inbox

NODE = """
query Node($id: ID!) { node(id: $id) { __typename id
  ... on Account { externalId }
  ... on Conversation { externalId channel }
  ... on Message { externalId sender { identifier } sentAt }
  ... on Contact { firstName }
  ... on Company { name }
  ... on User { email }
  ... on Workspace { slug }
} }
"""
FIRST_PAGE = """
{ conversations(first: 30) { edges { node { id externalId isGroup channel account { id }
  messages(first: 2) { edges { node { id externalId direction sentAt text html sender { identifier }
  } } } } } }
  viewer { user { id } workspace { id } } }
"""


async def node(inbox: Inbox, global_id: str, user: str = "alice") -> dict[str, Any] | None:
    result = await inbox.query(NODE, {"id": global_id}, user=user)
    assert "errors" not in result, result["errors"]
    found: dict[str, Any] | None = result["data"]["node"]
    return found


async def test_every_node_type_refetches(inbox: Inbox) -> None:
    page = await inbox.query(FIRST_PAGE)
    assert "errors" not in page, page["errors"]
    conversation = page["data"]["conversations"]["edges"][0]["node"]
    message = conversation["messages"]["edges"][0]["node"]
    contact = await Contact.all().order_by("id").first()
    company = await Company.all().order_by("id").first()
    assert contact is not None and company is not None
    ids = {
        "Conversation": conversation["id"],
        "Message": message["id"],
        "Account": conversation["account"]["id"],
        "User": page["data"]["viewer"]["user"]["id"],
        "Workspace": page["data"]["viewer"]["workspace"]["id"],
        "Contact": to_global_id("Contact", contact.id),
        "Company": to_global_id("Company", company.id),
    }
    for type_name, global_id in ids.items():
        found = await node(inbox, global_id)
        assert found is not None, type_name
        assert (found["__typename"], found["id"]) == (type_name, global_id)
    refetched = await node(inbox, ids["Message"])
    assert refetched is not None and refetched["externalId"] == message["externalId"]


async def test_messages_are_newest_first_in_one_shape(inbox: Inbox) -> None:
    page = await inbox.query(FIRST_PAGE)
    for edge in page["data"]["conversations"]["edges"]:
        messages = [m["node"] for m in edge["node"]["messages"]["edges"]]
        assert messages, edge["node"]["externalId"]
        assert [m["sentAt"] for m in messages] == sorted(
            (m["sentAt"] for m in messages), reverse=True
        )
        if edge["node"]["channel"] == "EMAIL":
            assert all(m["html"] for m in messages)


async def test_what_the_viewer_may_not_see_is_null(inbox: Inbox) -> None:
    bob_page = await inbox.query(FIRST_PAGE, user="bob")
    whatsapp = next(
        e["node"]
        for e in bob_page["data"]["conversations"]["edges"]
        if e["node"]["channel"] == "WHATSAPP"
    )
    assert await node(inbox, whatsapp["id"], user="bob") is not None
    assert await node(inbox, whatsapp["id"], user="alice") is None
    assert await node(inbox, whatsapp["account"]["id"], user="alice") is None

    other = await Workspace.create(name="Globex", slug="globex")
    stranger = await User.create(workspace=other, email="eve@globex.test", name="Eve")
    contact = await Contact.create(workspace=other, first_name="Hidden")
    company = await Company.create(workspace=other, name="Hidden Inc")
    for global_id in (
        to_global_id("Contact", contact.id),
        to_global_id("Company", company.id),
        to_global_id("User", stranger.id),
        to_global_id("Workspace", other.id),
        to_global_id("Conversation", "999:nothing"),
        to_global_id("Message", "1:nothing:nothing"),
        "bm90LWFuLWlk",
        "not base64 at all",
    ):
        assert await node(inbox, global_id) is None, global_id


async def test_nodes_keeps_the_order_and_nulls(inbox: Inbox) -> None:
    page = await inbox.query(FIRST_PAGE)
    first_id = page["data"]["conversations"]["edges"][0]["node"]["id"]
    result = await inbox.query(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["eA==", first_id]}
    )
    assert result["data"]["nodes"] == [None, {"id": first_id}]


CONTACT_FIELDS = """__typename id ... on Contact { firstName name emails { value } phones { value }
  company { id name domains } }
  ... on Company { name domains } ... on User { email }"""


async def forty_contacts() -> list[str]:
    """The global ids of 40 contacts of the demo workspace, most with identifiers and a company."""
    workspace = await Workspace.get(slug="demo")
    acme = await Company.filter(workspace=workspace).order_by("id").first()
    assert acme is not None
    have = await Contact.filter(workspace=workspace).count()
    for n in range(max(0, 40 - have)):
        await Contact.create(workspace=workspace, first_name=f"Extra{n}", company=acme)
    contacts = await Contact.filter(workspace=workspace).order_by("id").limit(40)
    assert len(contacts) == 40
    return [to_global_id("Contact", contact.id) for contact in contacts]


async def test_forty_contacts_as_node_fields_cost_a_fixed_number_of_queries(inbox: Inbox) -> None:
    # Root fields of a query run concurrently: the request's loader batches their contacts.
    ids = await forty_contacts()
    fields = " ".join(
        f'c{n}: node(id: "{global_id}") {{ {CONTACT_FIELDS} }}' for n, global_id in enumerate(ids)
    )
    result = await inbox.query(f"{{ {fields} }}")
    assert "errors" not in result, result["errors"]
    found = [result["data"][f"c{n}"] for n in range(len(ids))]
    assert [node["id"] for node in found] == ids
    assert any(node["emails"] for node in found) and any(node["company"] for node in found)
    # The viewer's scope, then the contacts with their identifiers, companies and domains.
    assert result["extensions"]["cost"]["dbQueries"] <= 3


async def test_nodes_of_every_batched_type_match_node(inbox: Inbox) -> None:
    contact_ids = (await forty_contacts())[:5]
    workspace = await Workspace.get(slug="demo")
    companies = await Company.filter(workspace=workspace).order_by("id").limit(3)
    users = await User.filter(workspace=workspace).order_by("id")
    other = await Workspace.create(name="Globex", slug="globex")
    hidden = await Contact.create(workspace=other, first_name="Hidden")
    ids = [
        *contact_ids,
        to_global_id("Contact", hidden.id),
        *(to_global_id("Company", company.id) for company in companies),
        *(to_global_id("User", user.id) for user in users),
        to_global_id("Contact", "99999"),
        to_global_id("Contact", "nope"),
        contact_ids[0],
    ]
    result = await inbox.query(
        f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {CONTACT_FIELDS} }} }}", {"ids": ids}
    )
    assert "errors" not in result, result["errors"]
    singly = [await node_fields(inbox, global_id) for global_id in ids]
    assert result["data"]["nodes"] == singly
    assert [n is None for n in singly].count(True) == 3
    assert singly[-1] == singly[0] and singly[0] is not None


async def node_fields(inbox: Inbox, global_id: str) -> dict[str, Any] | None:
    result = await inbox.query(
        f"query($id: ID!) {{ node(id: $id) {{ {CONTACT_FIELDS} }} }}", {"id": global_id}
    )
    assert "errors" not in result, result["errors"]
    found: dict[str, Any] | None = result["data"]["node"]
    return found


async def test_nodes_with_forty_contacts_costs_a_fixed_number_of_queries(inbox: Inbox) -> None:
    ids = await forty_contacts()
    result = await inbox.query(
        f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {CONTACT_FIELDS} }} }}", {"ids": ids}
    )
    assert "errors" not in result, result["errors"]
    assert [node["id"] for node in result["data"]["nodes"]] == ids
    assert result["extensions"]["cost"]["dbQueries"] <= 3


async def test_resolve_nodes_loads_each_type_in_one_query(
    inbox: Inbox, query_counter: QueryCounter
) -> None:
    contact_ids = await forty_contacts()
    workspace = await Workspace.get(slug="demo")
    company_ids = [
        to_global_id("Company", company.id)
        for company in await Company.filter(workspace=workspace).order_by("id")
    ]
    user_ids = [to_global_id("User", user.id) for user in await User.filter(workspace=workspace)]
    alice = await User.get(email=DEMO_USERS["alice"][0])
    context = Context(
        request=None,
        # Contacts, companies and users need no service, nor reads kept across requests.
        services=cast(Any, SimpleNamespace(unipile=None, attendee_cache=None, read_caches=None)),
        identity=Identity(alice.id, alice.workspace_id),
    )
    await context.scope()
    before = query_counter.value
    found = await resolve_nodes(context, [*contact_ids, *company_ids, *user_ids, "eA=="])
    assert query_counter.value - before == 3  # one per type
    assert [None if n is None else n.id for n in found] == [
        *contact_ids,
        *company_ids,
        *user_ids,
        None,
    ]

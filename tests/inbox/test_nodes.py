from __future__ import annotations

from typing import Any

from db.models import Company, Contact, User, Workspace
from schema.ids import to_global_id
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

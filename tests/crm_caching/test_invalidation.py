"""The storage rules, CRM matches and conversation states a process keeps across requests, and
the viewer's scope it reads on every one: each writer's change is seen by the next read (the page
read just before it was served from the caches), in this process and in another one on the same
database (the versions are in the workspace's row: no Redis is needed)."""

from __future__ import annotations

import asyncio
from typing import Any

from access.directory import set_user_active
from core.ids import to_global_id
from core.vocabulary import NeverStoreKind
from crm import is_personal_domain, load_storage_rules
from crm.storage_rules import add_never_store
from db.models import Account, Workspace
from server.demo import DEMO_USERS
from tests.crm_caching.conftest import Page, Serve, mutate, read_page, warm_page
from tests.inbox.conftest import Inbox

CREATE_CONTACT = """mutation($emails: [String!]!) {
  createContact(input: {firstName: "Cached", lastName: "Person", emails: $emails}) {
    contact { id } error { code message } } }"""
UPDATE_CONTACT = """mutation($id: ID!, $emails: [String!]!) {
  updateContact(input: {id: $id, emails: $emails}) { contact { id } error { code message } } }"""
DELETE_CONTACT = """mutation($id: ID!) {
  deleteContact(input: {id: $id}) { deletedId error { code message } } }"""
CREATE_COMPANY = """mutation($domains: [String!]!) {
  createCompany(input: {name: "Cached Inc", domains: $domains}) {
    company { id } error { code message } } }"""
DELETE_COMPANY = """mutation($id: ID!) {
  deleteCompany(input: {id: $id}) { deletedId error { code message } } }"""
UPSERT_CONTACTS = """mutation($emails: [String!]!) {
  upsertContacts(input: {contacts: [{externalId: "crm-cached-1", firstName: "Imported",
    emails: $emails}]}) { results { outcome contact { id } } error { code message } } }"""
ADD_NEVER_STORE = """mutation($value: String!) {
  addNeverStore(input: {kind: EMAIL, value: $value}) { error { code message } } }"""
SET_POLICY = """mutation($policy: StoragePolicy!) {
  setStoragePolicy(input: {channel: EMAIL, policy: $policy}) { error { code message } } }"""
STORE = """mutation($id: ID!) {
  storeConversation(input: {conversationId: $id}) { error { code message } } }"""
LINK = """mutation($id: ID!, $contact: ID!) {
  linkConversation(input: {conversationId: $id, contactId: $contact}) {
    error { code message } } }"""
UNLINK = """mutation($id: ID!, $contact: ID!) {
  unlinkConversation(input: {conversationId: $id, contactId: $contact}) {
    error { code message } } }"""
FORGET = """mutation($id: ID!) {
  forgetConversation(input: {conversationId: $id, unlink: true}) { error { code message } } }"""
RENAME_CONTACT = """mutation($id: ID!) {
  updateContact(input: {id: $id, firstName: "Renamed", lastName: "Later"}) {
    contact { id } error { code message } } }"""
DISCONNECT = """mutation($id: ID!) {
  disconnectAccount(input: {accountId: $id}) { account { id } error { code message } } }"""
SHARE = """mutation($id: ID!) {
  shareAccount(input: {accountId: $id}) { account { id } error { code message } } }"""
NO_MATCH = {"contact": None, "company": None}
GMAIL = "acc_gmail_demo_000001"
OUTLOOK = "acc_outlook_demo_00001"


def unmatched_address(page: Page, *, company_domain: bool = False) -> str:
    """An address on the page that matches nothing; at a company's kind of domain if asked."""
    for participant in page.participants():
        address = participant["emailAddress"]
        if not address or participant["crmMatch"] != NO_MATCH:
            continue
        if not company_domain or not is_personal_domain(address.rpartition("@")[2]):
            return str(address)
    raise AssertionError("the demo page has no unknown person at such a domain")


def matched_email_conversation(page: Page, account: str = GMAIL) -> tuple[dict[str, Any], str]:
    """An email conversation of `account` stored for a contact match, and the matched
    participant's address."""
    for node in page.nodes:
        if node["account"]["externalId"] != account:
            continue
        for participant in node["participants"]:
            match = participant["crmMatch"]
            if (
                node["storage"]["reason"] == "CONTACT_MATCH"
                and participant["emailAddress"]
                and match is not None
                and match["contact"] is not None
            ):
                return node, str(participant["emailAddress"])
    raise AssertionError("the demo page has email matched to contacts")


def node_of(page: Page, external_id: str) -> dict[str, Any]:
    return next(node for node in page.nodes if node["externalId"] == external_id)


async def account_id(unipile_id: str) -> str:
    return to_global_id("Account", (await Account.get(unipile_id=unipile_id)).id)


async def test_a_contact_created_matches_at_the_next_read_and_not_once_deleted(
    inbox: Inbox,
) -> None:
    address = unmatched_address(await warm_page(inbox))
    created = await mutate(inbox, CREATE_CONTACT, emails=[address])
    matched = await read_page(inbox)
    assert matched.match_of(address) == {"contact": created["contact"], "company": None}
    await mutate(inbox, DELETE_CONTACT, id=created["contact"]["id"])
    assert (await read_page(inbox)).match_of(address) == NO_MATCH


async def test_an_identifier_added_to_a_contact_matches_at_the_next_read(inbox: Inbox) -> None:
    address = unmatched_address(await warm_page(inbox))
    created = await mutate(inbox, CREATE_CONTACT, emails=[])
    assert (await read_page(inbox)).match_of(address) == NO_MATCH
    await mutate(inbox, UPDATE_CONTACT, id=created["contact"]["id"], emails=[address])
    assert (await read_page(inbox)).match_of(address) == {
        "contact": created["contact"],
        "company": None,
    }


async def test_a_company_created_matches_by_domain_at_the_next_read_and_not_once_deleted(
    inbox: Inbox,
) -> None:
    address = unmatched_address(await warm_page(inbox), company_domain=True)
    created = await mutate(inbox, CREATE_COMPANY, domains=[address.rpartition("@")[2]])
    matched = await read_page(inbox)
    assert matched.match_of(address) == {"contact": None, "company": created["company"]}
    await mutate(inbox, DELETE_COMPANY, id=created["company"]["id"])
    assert (await read_page(inbox)).match_of(address) == NO_MATCH


async def test_an_imported_contact_matches_at_the_next_read(inbox: Inbox) -> None:
    address = unmatched_address(await warm_page(inbox))
    imported = await mutate(inbox, UPSERT_CONTACTS, emails=[address])
    [result] = imported["results"]
    assert result["outcome"] == "CREATED"
    match = (await read_page(inbox)).match_of(address)
    assert match == {"contact": result["contact"], "company": None}


async def test_a_never_store_entry_blocks_at_the_next_read(inbox: Inbox) -> None:
    node, address = matched_email_conversation(await warm_page(inbox))
    await mutate(inbox, ADD_NEVER_STORE, value=address)
    blocked = node_of(await read_page(inbox), node["externalId"])
    assert blocked["storage"] == {"stored": False, "shouldStore": False, "reason": "BLOCKED"}


async def test_a_channel_policy_change_holds_at_the_next_read(inbox: Inbox) -> None:
    node, _ = matched_email_conversation(await warm_page(inbox))
    await mutate(inbox, SET_POLICY, policy="NEVER")
    never = node_of(await read_page(inbox), node["externalId"])
    assert never["storage"] == {"stored": False, "shouldStore": False, "reason": "NONE"}
    await mutate(inbox, SET_POLICY, policy="AUTO")
    auto = node_of(await read_page(inbox), node["externalId"])
    # The decision holds at once; the copy is made by the sweep the change starts, which runs in
    # the background and may or may not have stored it by this read.
    assert (auto["storage"]["shouldStore"], auto["storage"]["reason"]) == (True, "CONTACT_MATCH")
    stored = await once_stored(inbox, node["externalId"])
    assert stored["storage"] == {"stored": True, "shouldStore": True, "reason": "CONTACT_MATCH"}


async def once_stored(inbox: Inbox, external_id: str, within: float = 15.0) -> dict[str, Any]:
    """The conversation as read once it is stored (the sweep and the job queue are done)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        node = node_of(await read_page(inbox), external_id)
        if node["storage"]["stored"] or asyncio.get_running_loop().time() > deadline:
            return node
        await asyncio.sleep(0.1)


def unstored_chat(page: Page) -> dict[str, Any]:
    """A conversation of a messaging channel, neither stored nor linked."""
    for node in page.nodes:
        if node["account"]["externalId"] not in (GMAIL, OUTLOOK) and not node["storage"]["stored"]:
            assert node["links"] == []
            return node
    raise AssertionError("the demo page has no unstored chat")


async def test_a_stored_linked_unlinked_and_forgotten_conversation_shows_it_at_the_next_read(
    inbox: Inbox,
) -> None:
    node = unstored_chat(await warm_page(inbox))
    await mutate(inbox, STORE, id=node["id"])
    stored = node_of(await read_page(inbox), node["externalId"])
    assert stored["storage"]["stored"] and stored["storage"]["reason"] == "MANUAL_STORE"
    contact = (await mutate(inbox, CREATE_CONTACT, emails=["linked@cache.test"]))["contact"]
    await mutate(inbox, LINK, id=node["id"], contact=contact["id"])
    linked = node_of(await warm_page(inbox), node["externalId"])
    assert linked["links"] == [
        {"source": "USER", "target": {"id": contact["id"], "name": "Cached Person"}}
    ]
    await mutate(inbox, RENAME_CONTACT, id=contact["id"])
    renamed = node_of(await read_page(inbox), node["externalId"])
    assert [link["target"]["name"] for link in renamed["links"]] == ["Renamed Later"]
    await mutate(inbox, UNLINK, id=node["id"], contact=contact["id"])
    assert node_of(await warm_page(inbox), node["externalId"])["links"] == []
    await mutate(inbox, FORGET, id=node["id"])
    forgotten = node_of(await read_page(inbox), node["externalId"])
    assert not forgotten["storage"]["stored"]


async def test_a_disconnected_account_leaves_the_next_page(inbox: Inbox) -> None:
    assert GMAIL in (await warm_page(inbox)).accounts()
    await mutate(inbox, DISCONNECT, id=await account_id(GMAIL))
    assert GMAIL not in (await read_page(inbox)).accounts()


async def test_a_shared_account_joins_the_other_users_next_page(inbox: Inbox) -> None:
    assert OUTLOOK not in (await warm_page(inbox, "bob")).accounts()
    await mutate(inbox, SHARE, id=await account_id(OUTLOOK))
    assert OUTLOOK in (await read_page(inbox, "bob", first=100)).accounts()


async def test_a_disabled_user_is_refused_at_the_next_request(inbox: Inbox) -> None:
    await warm_page(inbox, "bob")
    await set_user_active(DEMO_USERS["bob"][0], False)
    refused = await inbox.query("{ viewer { user { email } } }", user="bob")
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await set_user_active(DEMO_USERS["bob"][0], True)
    assert (await read_page(inbox, "bob")).nodes


async def test_twenty_storage_rules_cost_the_queries_of_none(serve: Serve) -> None:
    workspace = await Workspace.get(slug="demo")
    costs = []
    for rules in (0, 20):
        for n in range(rules):
            await add_never_store(workspace.id, NeverStoreKind.EMAIL, f"blocked{n}@never.test")
        assert len((await load_storage_rules(workspace.id)).never_store.emails) == rules
        with serve() as inbox:
            cold = await read_page(inbox)
            warm = await read_page(inbox)
            costs.append((cold.queries, warm.queries))
    assert costs[0] == costs[1]
    assert costs[0][0] <= 3 and costs[0][1] <= 1


async def test_another_process_sees_a_change_made_through_the_first(
    processes: list[Inbox],
) -> None:
    writer, reader = processes
    page = await warm_page(reader)
    address = unmatched_address(page)
    node, blocked_address = matched_email_conversation(page)
    created = await mutate(writer, CREATE_CONTACT, emails=[address])
    await mutate(writer, ADD_NEVER_STORE, value=blocked_address)
    await mutate(writer, DISCONNECT, id=await account_id(OUTLOOK))
    chat = unstored_chat(page)
    await mutate(writer, STORE, id=chat["id"])
    seen = await read_page(reader)
    assert seen.match_of(address) == {"contact": created["contact"], "company": None}
    assert node_of(seen, node["externalId"])["storage"]["reason"] == "BLOCKED"
    assert node_of(seen, chat["externalId"])["storage"]["stored"]
    assert OUTLOOK not in seen.accounts()
    again = await read_page(reader)
    assert again.queries <= 1

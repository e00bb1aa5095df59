"""Workspace-wide mutations are an ADMIN's: a MEMBER gets FORBIDDEN and nothing changes.

`forgetIdentifier` deletes what every user of the workspace stored about someone; storage
policies, the never-store list and CRM deletions apply to the whole workspace. bob and dave
(MEMBERs) are refused; alice and carol (ADMINs) succeed, each in their own workspace only.
"""

from __future__ import annotations

from typing import Any

from core.vocabulary import NeverStoreKind
from db.models import Company, Contact, Message, NeverStoreEntry, StoragePolicySetting
from tests.security.conftest import (
    ALICE_GMAIL,
    CAROL_GMAIL,
    DEMO,
    RIVAL,
    RIVAL_SLUG,
    Tenants,
    gid,
    threads,
)
from unipile.sandbox import Demo

JANE = "jane.doe@acme-corp.com"
LISTED = "listed@example.org"
WORKSPACE_WIDE = """
mutation($identifier: String!, $contact: ID!, $company: ID!, $listed: String!) {
  forgetIdentifier(input: {identifier: $identifier}) { messagesDeleted error { code } }
  setStoragePolicy(input: {channel: WHATSAPP, policy: AUTO}) {
    rules { policies { channel policy } } error { code } }
  addNeverStore(input: {kind: DOMAIN, value: "intruder.example"}) {
    rules { neverStore { kind value } } error { code } }
  removeNeverStore(input: {kind: EMAIL, value: $listed}) {
    rules { neverStore { kind value } } error { code } }
  deleteContact(input: {id: $contact}) { deletedId error { code } }
  deleteCompany(input: {id: $company}) { deletedId error { code } }
}
"""
STORE = """mutation($id: ID!) { storeConversation(input: {conversationId: $id}) {
  messagesAdded error { code } } }"""


def jane_thread(data: Demo, account_id: str) -> str:
    return next(
        str(t[0]["thread_id"])
        for t in threads(data, account_id)
        if any(e["from_attendee"]["identifier"] == JANE for e in t)
    )


async def prepare(tenants: Tenants, slug: str, admin: str, account_id: str) -> dict[str, Any]:
    """Stored messages from Jane, a never-store entry, and a contact and company to delete."""
    data = DEMO if slug == "demo" else RIVAL
    thread = jane_thread(data, account_id)
    # A fresh email from Jane, so that the stored copy holds one within the sync window.
    posted = await tenants.sandbox_post(
        "/_sandbox/messages",
        {"account_id": account_id, "thread_id": thread, "sender": JANE, "text": "Hello again"},
    )
    assert posted.status_code == 201, posted.text
    stored = await tenants.query(STORE, {"id": tenants.conversation(account_id, thread)}, admin)
    payload = stored["data"]["storeConversation"]
    assert payload["error"] is None and payload["messagesAdded"] >= 1, stored
    workspace_id = tenants.workspaces[slug]
    await NeverStoreEntry.create(workspace_id=workspace_id, kind=NeverStoreKind.EMAIL, value=LISTED)
    company = await Company.filter(workspace_id=workspace_id).exclude(name="Acme Corp").first()
    assert company is not None
    contact = await Contact.filter(workspace_id=workspace_id, company_id=company.id).first()
    assert contact is not None
    return {
        "identifier": JANE,
        "contact": gid("Contact", contact.id),
        "company": gid("Company", company.id),
        "listed": LISTED,
    }


async def workspace_state(tenants: Tenants, slug: str) -> dict[str, Any]:
    workspace_id = tenants.workspaces[slug]
    return {
        "messages": await Message.filter(conversation__workspace_id=workspace_id).count(),
        "never store": sorted(
            await NeverStoreEntry.filter(workspace_id=workspace_id).values_list("kind", "value")
        ),
        "policies": sorted(
            await StoragePolicySetting.filter(workspace_id=workspace_id).values_list(
                "channel", "policy"
            )
        ),
        "contacts": await Contact.filter(workspace_id=workspace_id).count(),
        "companies": await Company.filter(workspace_id=workspace_id).count(),
    }


async def test_a_member_may_not_act_on_the_whole_workspace(tenants: Tenants) -> None:
    variables = {
        "demo": await prepare(tenants, "demo", "alice", ALICE_GMAIL),
        RIVAL_SLUG: await prepare(tenants, RIVAL_SLUG, "carol", CAROL_GMAIL),
    }
    before = {slug: await workspace_state(tenants, slug) for slug in variables}
    failures = []
    for member, slug in (("bob", "demo"), ("dave", RIVAL_SLUG)):
        result = await tenants.query(WORKSPACE_WIDE, variables[slug], user=member)
        if result.get("errors"):
            failures.append(f"{member}: errors {result['errors']}")
        for name, payload in (result.get("data") or {}).items():
            code = (payload.get("error") or {}).get("code")
            done = (
                payload.get("rules") or payload.get("deletedId") or payload.get("messagesDeleted")
            )
            if code != "FORBIDDEN" or done:
                failures.append(f"{member} {name}: {payload}")
    for slug, state in before.items():
        if (now := await workspace_state(tenants, slug)) != state:
            failures.append(f"{slug} changed: {state} -> {now}")
    assert not failures, "\n".join(failures)


async def test_an_admin_acts_on_their_own_workspace_only(tenants: Tenants) -> None:
    variables = {
        "demo": await prepare(tenants, "demo", "alice", ALICE_GMAIL),
        RIVAL_SLUG: await prepare(tenants, RIVAL_SLUG, "carol", CAROL_GMAIL),
    }
    demo_before = await workspace_state(tenants, "demo")
    rival_before = await workspace_state(tenants, RIVAL_SLUG)
    # carol forgets Jane, whom both workspaces know under one address: only the rival's copy goes.
    result = await tenants.query(WORKSPACE_WIDE, variables[RIVAL_SLUG], user="carol")
    assert "errors" not in result, result
    for name, payload in result["data"].items():
        assert payload["error"] is None, (name, payload)
    data = result["data"]
    assert data["forgetIdentifier"]["messagesDeleted"] >= 1
    assert {"channel": "WHATSAPP", "policy": "AUTO"} in data["setStoragePolicy"]["rules"][
        "policies"
    ]
    assert {"kind": "DOMAIN", "value": "intruder.example"} in data["addNeverStore"]["rules"][
        "neverStore"
    ]
    assert {"kind": "EMAIL", "value": LISTED} not in data["removeNeverStore"]["rules"]["neverStore"]
    assert data["deleteContact"]["deletedId"] == variables[RIVAL_SLUG]["contact"]
    assert data["deleteCompany"]["deletedId"] == variables[RIVAL_SLUG]["company"]
    rival_after = await workspace_state(tenants, RIVAL_SLUG)
    assert rival_after["messages"] < rival_before["messages"]
    assert (rival_after["contacts"], rival_after["companies"]) == (
        rival_before["contacts"] - 1,
        rival_before["companies"] - 1,
    )
    assert await workspace_state(tenants, "demo") == demo_before
    # And alice, in hers.
    result = await tenants.query(WORKSPACE_WIDE, variables["demo"], user="alice")
    assert "errors" not in result, result
    for name, payload in result["data"].items():
        assert payload["error"] is None, (name, payload)
    assert result["data"]["forgetIdentifier"]["messagesDeleted"] >= 1
    demo_after = await workspace_state(tenants, "demo")
    assert demo_after["messages"] < demo_before["messages"]
    assert ("DOMAIN", "intruder.example") in demo_after["never store"]
    assert ("EMAIL", LISTED) not in demo_after["never store"]

"""Attacks by id: another tenant's (or another user's private) objects through every entry point.

The attackers are carol and dave (the rival workspace) against the demo workspace, bob against
alice's private mail, and alice against bob's private WhatsApp. Every foreign id is null (never
data, never an error); every mutation on one is NOT_FOUND and changes nothing, upstream or in the
database. Each attack has a positive control: the owner reads the same id through the same call.
Failures are collected so that one run lists every leak, not just the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from db.models import (
    Company,
    Contact,
    Conversation,
    ConversationLink,
    ConversationParticipant,
    Message,
    OutboundMessage,
    StoreJob,
)
from tests.security.conftest import (
    ALICE_GMAIL,
    ALICE_OUTLOOK,
    BOB_WHATSAPP,
    CAROL_GMAIL,
    DAVE_WHATSAPP,
    DEMO,
    OWNERSHIP_PROBES,
    READ_ROUTES,
    RIVAL,
    RIVAL_SLUG,
    SHARED_LINKEDIN,
    WRITE_ROUTES,
    Tenants,
    a_chat,
    a_thread,
    chat_messages,
    chats,
    gid,
    leaked,
    markers,
    message_gid,
)
from unipile.sandbox import Demo

NODE_FIELDS = """__typename id
  ... on Account { externalId name }
  ... on User { email name }
  ... on Workspace { slug name }
  ... on Conversation { externalId subject lastMessagePreview participants { identifier }
    messages(first: 3) { edges { node { id externalId text } } } }
  ... on Message { externalId text html sender { identifier } recipients { identifier } }
  ... on Contact { name emails { value } phones { value } }
  ... on Company { name domains }"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ {NODE_FIELDS} }} }}"
NODES = f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {NODE_FIELDS} }} }}"
CONVERSATION_FIELDS = """id externalId subject lastMessagePreview participants { identifier }
  messages(first: 3) { edges { node { id externalId text } } }"""
CONVERSATION = f"query($id: ID!) {{ conversation(id: $id) {{ {CONVERSATION_FIELDS} }} }}"

WHOSE = {
    ALICE_GMAIL: "alice",
    ALICE_OUTLOOK: "alice",
    SHARED_LINKEDIN: "alice",
    BOB_WHATSAPP: "bob",
    CAROL_GMAIL: "carol",
    DAVE_WHATSAPP: "dave",
}
DATA_OF = {account: DEMO for account in (ALICE_GMAIL, ALICE_OUTLOOK, SHARED_LINKEDIN, BOB_WHATSAPP)}
DATA_OF.update({CAROL_GMAIL: RIVAL, DAVE_WHATSAPP: RIVAL})


@dataclass(frozen=True)
class Target:
    """An object by global id, its type, the user who may see it and its data's markers."""

    label: str
    type_name: str
    global_id: str
    owner: str
    secret: frozenset[str]


def conversation_and_message(data: Demo, account_id: str) -> tuple[str, str]:
    """A conversation of the account with at least two messages, and its newest message."""
    if account_id in (ALICE_GMAIL, ALICE_OUTLOOK, CAROL_GMAIL):
        thread = a_thread(data, account_id, min_emails=2)
        return thread[0]["thread_id"], thread[0]["id"]
    chat = a_chat(data, account_id, min_messages=2)
    return chat["id"], chat_messages(data, chat["id"])[0]["id"]


async def workspace_targets(tenants: Tenants, slug: str) -> list[Target]:
    """Every kind of object of one workspace, each with the user who may see it."""
    demo = slug == "demo"
    accounts = (
        (ALICE_GMAIL, ALICE_OUTLOOK, BOB_WHATSAPP, SHARED_LINKEDIN)
        if demo
        else (CAROL_GMAIL, DAVE_WHATSAPP)
    )
    first, second = ("alice", "bob") if demo else ("carol", "dave")
    targets = [
        Target(
            f"Workspace {slug}",
            "Workspace",
            gid("Workspace", tenants.workspaces[slug]),
            first,
            frozenset(),
        ),
        Target(f"User {first}", "User", gid("User", tenants.users[first]), first, frozenset()),
        Target(f"User {second}", "User", gid("User", tenants.users[second]), first, frozenset()),
    ]
    workspace_id = tenants.workspaces[slug]
    contact = await Contact.filter(workspace_id=workspace_id, first_name="Jane").first()
    company = await Company.filter(workspace_id=workspace_id, name="Acme Corp").first()
    assert contact is not None and company is not None
    targets.append(
        Target("Contact Jane Doe", "Contact", gid("Contact", contact.id), first, frozenset())
    )
    targets.append(
        Target("Company Acme", "Company", gid("Company", company.id), first, frozenset())
    )
    for account_id in accounts:
        data, pk, owner = DATA_OF[account_id], tenants.accounts[account_id], WHOSE[account_id]
        secret = markers(data, {account_id})
        conversation, message = conversation_and_message(data, account_id)
        targets += [
            Target(f"Account {account_id}", "Account", gid("Account", pk), owner, secret),
            Target(
                f"Conversation of {account_id}",
                "Conversation",
                tenants.conversation(account_id, conversation),
                owner,
                secret,
            ),
            Target(
                f"Message of {account_id}",
                "Message",
                message_gid(pk, conversation, message),
                owner,
                secret,
            ),
        ]
        if account_id in (BOB_WHATSAPP, DAVE_WHATSAPP):
            group = chats(data, account_id, group=True)[0]["id"]
            targets.append(
                Target(
                    f"Group chat of {account_id}",
                    "Conversation",
                    tenants.conversation(account_id, group),
                    owner,
                    secret,
                )
            )
    return targets


def aliased(targets: list[Target]) -> str:
    """One document asking `node` for every target and `conversation` for each conversation."""
    fields = [
        f"n{i}: node(id: {json.dumps(t.global_id)}) {{ {NODE_FIELDS} }}"
        for i, t in enumerate(targets)
    ]
    fields += [
        f"c{i}: conversation(id: {json.dumps(t.global_id)}) {{ {CONVERSATION_FIELDS} }}"
        for i, t in enumerate(targets)
        if t.type_name == "Conversation"
    ]
    return "{ " + "\n".join(fields) + " }"


async def check_invisible(
    tenants: Tenants, attacker: str, targets: list[Target], failures: list[str]
) -> None:
    """Each target is null to `attacker` through node, nodes and conversation: no data, no error."""
    secret = frozenset().union(*(t.secret for t in targets))
    each = await tenants.query(aliased(targets), user=attacker)
    if each.get("errors"):
        failures.append(f"{attacker} node/conversation: errors {each['errors']}")
    for alias, value in (each.get("data") or {}).items():
        if value is not None:
            failures.append(f"{attacker} {targets[int(alias[1:])].label} ({alias}): {value}")
    together = await tenants.query(NODES, {"ids": [t.global_id for t in targets]}, user=attacker)
    nodes = (together.get("data") or {}).get("nodes")
    if together.get("errors") or nodes != [None] * len(targets):
        failures.append(f"{attacker} nodes(every target): {together}")
    for name, answer in (("node/conversation", each), ("nodes", together)):
        if found := leaked(answer, secret):
            failures.append(f"{attacker} {name} showed {sorted(found)[:5]}")


async def check_visible(tenants: Tenants, targets: list[Target], failures: list[str]) -> None:
    """The positive control: each target's owner gets it, with its own type and id."""
    for target in targets:
        result = await tenants.query(NODE, {"id": target.global_id}, user=target.owner)
        node = (result.get("data") or {}).get("node")
        if (
            result.get("errors")
            or node is None
            or (node["__typename"], node["id"])
            != (
                target.type_name,
                target.global_id,
            )
        ):
            failures.append(f"control: {target.owner} node({target.label}): {result}")
        if target.type_name == "Conversation":
            result = await tenants.query(CONVERSATION, {"id": target.global_id}, user=target.owner)
            found = (result.get("data") or {}).get("conversation")
            if result.get("errors") or found is None or not found["messages"]["edges"]:
                failures.append(f"control: {target.owner} conversation({target.label}): {result}")


async def test_every_node_type_of_another_workspace_is_null(tenants: Tenants) -> None:
    demo = await workspace_targets(tenants, "demo")
    rival = await workspace_targets(tenants, RIVAL_SLUG)
    failures: list[str] = []
    await check_visible(tenants, demo + rival, failures)
    assert not failures, "\n".join(failures)
    await tenants.reset_stats()
    for attacker in ("carol", "dave"):
        await check_invisible(tenants, attacker, demo, failures)
    for attacker in ("alice", "bob"):
        await check_invisible(tenants, attacker, rival, failures)
    stats = await tenants.route_stats()
    assert set(stats) <= READ_ROUTES, stats
    assert not failures, "\n".join(failures)


async def test_another_users_private_account_is_null_to_a_member(tenants: Tenants) -> None:
    """bob shares alice's workspace and LinkedIn, not her mailboxes; alice not bob's WhatsApp."""
    demo = await workspace_targets(tenants, "demo")
    alice_private = [t for t in demo if any(a in t.label for a in (ALICE_GMAIL, ALICE_OUTLOOK))]
    bob_private = [t for t in demo if BOB_WHATSAPP in t.label]
    assert len(alice_private) == 6 and len(bob_private) == 4
    failures: list[str] = []
    await check_visible(tenants, alice_private + bob_private, failures)
    shared = [t for t in demo if SHARED_LINKEDIN in t.label or t.type_name in ("User", "Contact")]
    for target in shared:
        result = await tenants.query(NODE, {"id": target.global_id}, user="bob")
        if (result.get("data") or {}).get("node") is None:
            failures.append(f"control: bob node({target.label}): {result}")
    await check_invisible(tenants, "bob", alice_private, failures)
    await check_invisible(tenants, "alice", bob_private, failures)
    assert not failures, "\n".join(failures)


# -- an own account with another's chat or thread ---------------------------------------------


@dataclass(frozen=True)
class Forged:
    """`Conversation:<attacker's account pk>:<someone else's chat or thread id>`."""

    attacker: str
    own_account: str
    victim_account: str
    external_id: str
    message_id: str

    def label(self) -> str:
        return f"{self.attacker} via {self.own_account} on {self.victim_account}"


def forgeries() -> list[Forged]:
    def on(attacker: str, own: str, victim: str) -> Forged:
        conversation, message = conversation_and_message(DATA_OF[victim], victim)
        return Forged(attacker, own, victim, conversation, message)

    return [
        on("carol", CAROL_GMAIL, ALICE_GMAIL),
        on("carol", CAROL_GMAIL, BOB_WHATSAPP),
        on("dave", DAVE_WHATSAPP, BOB_WHATSAPP),
        on("dave", DAVE_WHATSAPP, ALICE_GMAIL),
        on("dave", DAVE_WHATSAPP, SHARED_LINKEDIN),
        on("bob", BOB_WHATSAPP, ALICE_GMAIL),
        on("bob", SHARED_LINKEDIN, ALICE_OUTLOOK),
        # The shared LinkedIn is bob's to use, but not to reach the other tenant's WhatsApp.
        on("bob", SHARED_LINKEDIN, DAVE_WHATSAPP),
        # alice is the demo's ADMIN: bob's WhatsApp is still his alone.
        on("alice", SHARED_LINKEDIN, BOB_WHATSAPP),
        on("alice", ALICE_GMAIL, CAROL_GMAIL),
    ]


async def check_victim_untouched(
    tenants: Tenants, victims: set[str], failures: list[str], label: str
) -> None:
    """Upstream, the victims' accounts saw at most a lookup of one object by id (to learn whose
    it is): no list, no read of a chat's messages, no write."""
    by_account = await tenants.account_stats()
    for victim in victims:
        routes = set(by_account.get(victim, {}))
        if routes - OWNERSHIP_PROBES:
            failures.append(f"{label}: UniPile was asked about {victim}: {by_account[victim]}")
    if "*" in by_account:
        failures.append(f"{label}: UniPile was asked about every account: {by_account['*']}")


async def test_an_own_account_with_a_foreign_chat_id_reads_nothing(tenants: Tenants) -> None:
    failures: list[str] = []
    for forged in forgeries():
        # Control: the victim's owner reads the real conversation.
        real = tenants.conversation(forged.victim_account, forged.external_id)
        control = await tenants.query(CONVERSATION, {"id": real}, user=WHOSE[forged.victim_account])
        found = (control.get("data") or {}).get("conversation")
        assert found is not None and found["messages"]["edges"], (forged, control)
        await tenants.reset_stats()
        pk = tenants.accounts[forged.own_account]
        conversation = tenants.conversation(forged.own_account, forged.external_id)
        message = message_gid(pk, forged.external_id, forged.message_id)
        secret = markers(DATA_OF[forged.victim_account], {forged.victim_account})
        answers = [
            (
                "conversation",
                await tenants.query(CONVERSATION, {"id": conversation}, forged.attacker),
            ),
            (
                "node(conversation)",
                await tenants.query(NODE, {"id": conversation}, forged.attacker),
            ),
            ("node(message)", await tenants.query(NODE, {"id": message}, forged.attacker)),
            (
                "nodes",
                await tenants.query(NODES, {"ids": [conversation, message]}, forged.attacker),
            ),
        ]
        for name, result in answers:
            data = result.get("data") or {}
            values = [data.get("conversation"), data.get("node"), *(data.get("nodes") or [])]
            if result.get("errors") or any(v is not None for v in values) or not data:
                failures.append(f"{forged.label()} {name}: {result}")
            if found_markers := leaked(result, secret - {forged.external_id, forged.message_id}):
                failures.append(f"{forged.label()} {name} showed {sorted(found_markers)[:5]}")
        stats = await tenants.route_stats()
        if set(stats) - READ_ROUTES:
            failures.append(f"{forged.label()}: unexpected UniPile calls {stats}")
        await check_victim_untouched(tenants, {forged.victim_account}, failures, forged.label())
    assert not failures, "\n".join(failures)


MUTATIONS = """
mutation($id: ID!, $contact: ID!) {
  send: sendMessage(input: {conversationId: $id, text: "sent by an intruder"}) {
    message { id text } error { code } }
  reply: replyToConversation(input: {conversationId: $id, html: "<p>sent by an intruder</p>"}) {
    message { id text } error { code } }
  read: markConversationRead(input: {conversationId: $id, read: true}) {
    conversation { id } error { code } }
  unread: markConversationRead(input: {conversationId: $id, read: false}) {
    conversation { id } error { code } }
  link: linkConversation(input: {conversationId: $id, contactId: $contact}) {
    conversation { id } messagesAdded error { code } }
  store: storeConversation(input: {conversationId: $id}) {
    conversation { id } messagesAdded error { code } }
  storeMany: storeConversations(input: {conversationIds: [$id]}) {
    results { conversation { id } messagesAdded error { code } } error { code } }
  linkMany: linkConversations(input: {items: [{conversationId: $id, contactId: $contact}]}) {
    results { conversation { id } messagesAdded error { code } } error { code } }
  unlink: unlinkConversation(input: {conversationId: $id, contactId: $contact}) {
    conversation { id } error { code } }
  forget: forgetConversation(input: {conversationId: $id, unlink: true}) {
    forgotten error { code } }
}
"""
# A send of the wrong kind may be refused for its kind first: that reveals nothing either.
WRONG_KIND = {"send": {"EMAIL"}, "reply": {"CHAT"}}


def refusals(alias: str, payload: dict[str, Any] | None) -> list[tuple[str | None, Any]]:
    """(error code, what the payload returned) for each item of one mutation's payload."""
    if payload is None:
        return [("null payload", None)]
    if "results" in payload:
        if not payload["results"]:
            return [((payload.get("error") or {}).get("code"), None)]
        return [
            (
                (item.get("error") or {}).get("code"),
                item.get("conversation") or item["messagesAdded"],
            )
            for item in payload["results"]
        ]
    returned = payload.get("message") or payload.get("conversation") or payload.get("forgotten")
    return [((payload.get("error") or {}).get("code"), returned or payload.get("messagesAdded"))]


async def row_counts() -> dict[str, int]:
    return {
        model.__name__: await model.all().count()
        for model in (
            Conversation,
            ConversationParticipant,
            Message,
            ConversationLink,
            OutboundMessage,
            StoreJob,
        )
    }


async def test_mutations_on_a_foreign_chat_id_do_nothing(tenants: Tenants) -> None:
    # The victims' conversations are stored, so that a forged forget or unlink has a target.
    for forged in forgeries():
        real = tenants.conversation(forged.victim_account, forged.external_id)
        stored = await tenants.query(
            "mutation($id: ID!) { storeConversation(input: {conversationId: $id}) { error { code }"
            " conversation { storage { stored } } } }",
            {"id": real},
            WHOSE[forged.victim_account],
        )
        payload = stored["data"]["storeConversation"]
        assert payload["error"] is None and payload["conversation"]["storage"]["stored"], stored
    jane = {
        slug: gid("Contact", c.id)
        for slug in ("demo", RIVAL_SLUG)
        if (
            c := await Contact.filter(
                workspace_id=tenants.workspaces[slug], first_name="Jane"
            ).first()
        )
    }
    before = await row_counts()
    failures: list[str] = []
    for forged in forgeries():
        await tenants.reset_stats()
        kind = (
            "EMAIL" if forged.own_account in (ALICE_GMAIL, ALICE_OUTLOOK, CAROL_GMAIL) else "CHAT"
        )
        workspace = "demo" if forged.attacker in ("alice", "bob") else RIVAL_SLUG
        variables = {
            "id": tenants.conversation(forged.own_account, forged.external_id),
            "contact": jane[workspace],
        }
        result = await tenants.query(MUTATIONS, variables, user=forged.attacker)
        if result.get("errors"):
            failures.append(f"{forged.label()}: errors {result['errors']}")
        for alias, payload in (result.get("data") or {}).items():
            allowed = {"NOT_FOUND"} | (
                {"BAD_USER_INPUT"} if kind in WRONG_KIND.get(alias, ()) else set()
            )
            for code, returned in refusals(alias, payload):
                if code not in allowed or returned:
                    failures.append(f"{forged.label()} {alias}: {code} {returned}")
        secret = markers(DATA_OF[forged.victim_account], {forged.victim_account})
        if found := leaked(result, secret - {forged.external_id}):
            failures.append(f"{forged.label()} showed {sorted(found)[:5]}")
        stats = await tenants.route_stats()
        if written := {route: n for route, n in stats.items() if route in WRITE_ROUTES}:
            failures.append(f"{forged.label()}: UniPile was written to: {written}")
        if set(stats) - READ_ROUTES - WRITE_ROUTES:
            failures.append(f"{forged.label()}: unexpected UniPile calls: {stats}")
        await check_victim_untouched(tenants, {forged.victim_account}, failures, forged.label())
    after = await row_counts()
    if after != before:
        failures.append(f"rows changed: {before} -> {after}")
    assert not failures, "\n".join(failures)


# -- the CRM ------------------------------------------------------------------------------------

CRM = """{ contacts(first: 100) { totalCount edges { node { id name emails { value } } } }
  companies(first: 100) { totalCount edges { node { id name domains } } } }"""
INBOX = """{ conversations(first: 100) { edges { node { id externalId account { externalId }
  participants { identifier crmMatch { contact { id } company { id } candidates { id } } } }
} } }"""


async def crm_ids(workspace_id: int) -> set[str]:
    contacts = await Contact.filter(workspace_id=workspace_id)
    companies = await Company.filter(workspace_id=workspace_id)
    return {gid("Contact", c.id) for c in contacts} | {gid("Company", c.id) for c in companies}


def match_ids(result: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for edge in result["data"]["conversations"]["edges"]:
        for participant in edge["node"]["participants"]:
            match = participant["crmMatch"] or {}
            found.update(c["id"] for c in match.get("candidates") or [])
            found.update(match[k]["id"] for k in ("contact", "company") if match.get(k))
    return found


async def test_crm_records_and_matches_stay_in_their_workspace(tenants: Tenants) -> None:
    demo_ids = await crm_ids(tenants.workspaces["demo"])
    rival_ids = await crm_ids(tenants.workspaces[RIVAL_SLUG])
    for user, own, foreign in (("alice", demo_ids, rival_ids), ("carol", rival_ids, demo_ids)):
        crm = await tenants.query(CRM, user=user)
        assert "errors" not in crm, crm
        listed = {
            e["node"]["id"] for key in ("contacts", "companies") for e in crm["data"][key]["edges"]
        }
        assert listed == own, user
        inbox = await tenants.query(INBOX, user=user)
        assert "errors" not in inbox, inbox
        matched = match_ids(inbox)
        assert matched, f"control: {user}'s inbox matches its CRM"
        assert matched <= own and not matched & foreign, user
    # Jane Doe is a contact of both CRMs under one address: each tenant sees its own.
    rival_jane = await Contact.get(workspace_id=tenants.workspaces[RIVAL_SLUG], first_name="Jane")
    inbox = await tenants.query(INBOX, user="carol")
    jane_matches = {
        p["crmMatch"]["contact"]["id"]
        for e in inbox["data"]["conversations"]["edges"]
        for p in e["node"]["participants"]
        if p["identifier"].lower() == "jane.doe@acme-corp.com" and p["crmMatch"]["contact"]
    }
    assert jane_matches == {gid("Contact", rival_jane.id)}


CRM_MUTATIONS = """
mutation($contact: ID!, $company: ID!, $conversation: ID!, $forged: ID!) {
  updateContact: updateContact(input: {id: $contact, firstName: "Owned"}) {
    contact { id name } error { code } }
  deleteContact: deleteContact(input: {id: $contact}) { deletedId error { code } }
  updateCompany: updateCompany(input: {id: $company, name: "Owned"}) {
    company { id name } error { code } }
  deleteCompany: deleteCompany(input: {id: $company}) { deletedId error { code } }
  createContact: createContact(input: {firstName: "New", lastName: "Hire", companyId: $company}) {
    contact { id } error { code } }
  fromParticipant: createContactFromParticipant(input: {conversationId: $conversation,
    identifier: "jane.doe@acme-corp.com", name: "Jane Doe"}) { contact { id } error { code } }
  fromForged: createContactFromParticipant(input: {conversationId: $forged,
    identifier: "jane.doe@acme-corp.com", name: "Jane Doe"}) { contact { id } error { code } }
}
"""


async def test_crm_mutations_on_another_workspaces_records_are_not_found(
    tenants: Tenants,
) -> None:
    demo = tenants.workspaces["demo"]
    contact = await Contact.get(workspace_id=demo, first_name="Jane", last_name="Doe")
    company = await Company.get(workspace_id=demo, name="Acme Corp")
    thread = next(
        t
        for t in (await tenants.query(INBOX, user="alice"))["data"]["conversations"]["edges"]
        if any(
            p["identifier"].lower() == "jane.doe@acme-corp.com" for p in t["node"]["participants"]
        )
    )
    external_id = thread["node"]["externalId"]
    variables = {
        "contact": gid("Contact", contact.id),
        "company": gid("Company", company.id),
        "conversation": thread["node"]["id"],
        "forged": tenants.conversation(CAROL_GMAIL, external_id),
    }
    before = (await Contact.all().count(), await Company.all().count())
    result = await tenants.query(CRM_MUTATIONS, variables, user="carol")
    assert "errors" not in result, result
    failures = [
        f"{alias}: {payload}"
        for alias, payload in result["data"].items()
        if (payload.get("error") or {}).get("code") != "NOT_FOUND"
        or payload.get("contact")
        or payload.get("company")
        or payload.get("deletedId")
    ]
    assert not failures, "\n".join(failures)
    assert (await Contact.all().count(), await Company.all().count()) == before
    assert (await Contact.get(id=contact.id)).first_name == "Jane"
    assert (await Company.get(id=company.id)).name == "Acme Corp"


SEND = """mutation($id: ID!, $text: String!) { sendMessage(input: {conversationId: $id, text: $text,
  idempotencyKey: "retry-1"}) { message { text } error { code } } }"""


async def test_an_idempotency_key_is_the_workspaces_own(tenants: Tenants) -> None:
    """dave and bob pick the same key: each sends their own message, neither gets the other's."""
    dave_chat = tenants.conversation(DAVE_WHATSAPP, a_chat(RIVAL, DAVE_WHATSAPP)["id"])
    bob_chat = tenants.conversation(BOB_WHATSAPP, a_chat(DEMO, BOB_WHATSAPP)["id"])
    dave = await tenants.query(SEND, {"id": dave_chat, "text": "dave's words"}, user="dave")
    bob = await tenants.query(SEND, {"id": bob_chat, "text": "bob's words"}, user="bob")
    again = await tenants.query(SEND, {"id": dave_chat, "text": "dave's words"}, user="dave")
    assert dave["data"]["sendMessage"] == {"message": {"text": "dave's words"}, "error": None}
    assert bob["data"]["sendMessage"] == {"message": {"text": "bob's words"}, "error": None}
    # Control: the key does make a retry send once, within its workspace.
    assert again["data"]["sendMessage"] == dave["data"]["sendMessage"]
    assert (await tenants.route_stats()).get("POST /api/v1/chats/{chat_id}/messages") == 2

"""storageRules, previewStorageRules and setStorageRules over HTTP, on SQLite and PostgreSQL: the
served app over the sandbox's demo data, alice an admin, bob a member, eve another workspace's."""

from __future__ import annotations

import json
from typing import Any

from core.ids import to_global_id
from db.models import Account, StorageAuditEntry, StorageRuleRow, StorageSweep, User
from tests.crm_mutations.conftest import Rival
from tests.crm_mutations.graphql import ADD_NEVER_STORE, SET_POLICY, fail, mutation, succeed
from tests.inbox.conftest import Inbox

RULE = "id name action isChannelPolicy conditions { channels accountIds match domainsIn }"
RULES = f"rules {{ rules {{ {RULE} }} ownDomains }}"
SET_RULES = mutation("setStorageRules", "StorageRulesInput", RULES)
STORAGE_RULES = f"{{ storageRules {{ rules {{ {RULE} }} ownDomains }} }}"
INBOX = """query($first: Int) { conversations(first: $first) { edges { node {
    id channel account { id }
    storage { stored shouldStore reason rule { id name isChannelPolicy } }
} } } }"""
PREVIEW = """query($input: StorageRulesInput!) { previewStorageRules(input: $input) {
    evaluated changed counts { action count }
    examples { action currentAction rule { name } conversation { id } }
} }"""
GMAIL = "acc_gmail_demo_000001"


async def edges(inbox: Inbox, first: int = 50, user: str = "alice") -> list[dict[str, Any]]:
    result = await inbox.query(INBOX, {"first": first}, user=user)
    assert "errors" not in result, result["errors"]
    found: list[dict[str, Any]] = [e["node"] for e in result["data"]["conversations"]["edges"]]
    return found


async def gmail_id() -> str:
    account = await Account.get(unipile_id=GMAIL)
    return to_global_id("Account", account.id)


async def test_by_default_each_decision_names_its_channel_policy(inbox: Inbox) -> None:
    nodes = await edges(inbox)
    suggested = [n for n in nodes if n["storage"]["shouldStore"] and not n["storage"]["stored"]]
    assert suggested
    for node in suggested:
        rule = node["storage"]["rule"]
        assert rule["isChannelPolicy"]
        policy = "policy-" + node["channel"].lower()
        assert rule["id"] == to_global_id("StorageRule", policy)
    rules = (await inbox.query(STORAGE_RULES))["data"]["storageRules"]
    assert [rule["isChannelPolicy"] for rule in rules["rules"]] == [True] * len(rules["rules"])


async def test_rules_are_replaced_audited_and_decide_at_once(inbox: Inbox) -> None:
    gmail = await gmail_id()
    never_gmail = {
        "name": "Not the founder's private mailbox",
        "action": "NEVER",
        "accountIds": [gmail],
    }
    payload = await succeed(
        inbox, SET_RULES, {"rules": [never_gmail], "ownDomains": ["Demo.Switchboard.test"]}
    )
    first = payload["rules"]["rules"][0]
    assert (first["name"], first["action"], first["isChannelPolicy"]) == (
        never_gmail["name"],
        "NEVER",
        False,
    )
    assert first["conditions"]["accountIds"] == [gmail]
    assert payload["rules"]["ownDomains"] == ["demo.switchboard.test"]

    [entry] = await StorageAuditEntry.all()
    alice = await User.get(email="alice@demo.switchboard.test")
    assert entry.user_id == alice.id
    before = json.loads(entry.before)
    assert (before["rules"], before["ownDomains"], before["policies"]) == ([], [], {})
    after = json.loads(entry.after)
    assert [rule["name"] for rule in after["rules"]] == [never_gmail["name"]]

    nodes = await edges(inbox)
    mailbox = [n for n in nodes if n["account"]["id"] == gmail and not n["storage"]["stored"]]
    assert mailbox
    for node in mailbox:
        assert node["storage"]["shouldStore"] is False
        assert node["storage"]["rule"]["name"] == never_gmail["name"]
    # The other accounts still decide by their channel policies.
    others = [n for n in nodes if n["account"]["id"] != gmail and n["storage"]["shouldStore"]]
    assert others and all(n["storage"]["rule"]["isChannelPolicy"] for n in others)


async def test_a_member_cannot_change_the_rules(inbox: Inbox) -> None:
    rule = {"name": "Store everything", "action": "STORE"}
    error = await fail(inbox, SET_RULES, {"rules": [rule]}, user="bob")
    assert error["code"] == "FORBIDDEN"
    assert await StorageRuleRow.all().count() == 0
    assert await StorageAuditEntry.all().count() == 0


async def test_another_workspaces_account_is_refused(inbox: Inbox, rival: Rival) -> None:
    eve = await User.get(email="eve@rival.test")
    theirs = await Account.create(
        workspace_id=eve.workspace_id,
        owner=eve,
        channel="EMAIL",
        provider="GOOGLE_OAUTH",
        unipile_id="acc_rival_0001",
        name="eve@rival.test",
    )
    rule = {"name": "Theirs", "action": "STORE", "accountIds": [to_global_id("Account", theirs.id)]}
    for document, variables in (
        (SET_RULES, {"input": {"rules": [rule]}}),
        (PREVIEW, {"input": {"rules": [rule]}}),
    ):
        result = await inbox.query(document, variables)
        codes = [e["extensions"]["code"] for e in result.get("errors", [])]
        payload = (result.get("data") or {}).get("setStorageRules")
        if payload is not None:
            codes.append(payload["error"]["code"])
        assert codes == ["BAD_USER_INPUT"], result
    assert await StorageRuleRow.all().count() == 0


async def test_bad_rules_are_bad_input_naming_the_field(inbox: Inbox) -> None:
    bad = {
        "rules[0].name": {"name": "  ", "action": "STORE"},
        "rules[0].minConfidence": {"name": "x", "action": "STORE", "minConfidence": 2.0},
        "rules[0].domainsIn[0]": {"name": "x", "action": "STORE", "domainsIn": ["not a host"]},
        "rules[0].maxParticipants": {
            "name": "x",
            "action": "STORE",
            "minParticipants": 3,
            "maxParticipants": 2,
        },
        "rules[0].channels": {"name": "x", "action": "STORE", "channels": []},
        "rules[0].daysBack": {"name": "x", "action": "STORE", "daysBack": 0},
    }
    for field, rule in bad.items():
        error = await fail(inbox, SET_RULES, {"rules": [rule]})
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", field)
    too_long = {"name": "x" * 10_000, "action": "STORE"}
    error = await fail(inbox, SET_RULES, {"rules": [too_long]})
    assert error["code"] == "BAD_USER_INPUT"
    assert await StorageRuleRow.all().count() == 0


async def test_a_preview_shows_what_saving_then_does(inbox: Inbox) -> None:
    draft = {
        "rules": [
            {"name": "No WhatsApp groups", "action": "NEVER", "channels": ["WHATSAPP"],
             "group": True},
            {"name": "Every email, matched or not", "action": "SUGGEST", "channels": ["EMAIL"]},
        ]
    }  # fmt: skip
    result = await inbox.query(PREVIEW, {"input": draft})
    assert "errors" not in result, result
    preview = result["data"]["previewStorageRules"]
    assert await StorageRuleRow.all().count() == 0
    assert preview["evaluated"] > 0
    counts = {row["action"]: row["count"] for row in preview["counts"]}
    assert sum(counts.values()) == preview["evaluated"]
    assert preview["changed"] > 0

    await succeed(inbox, SET_RULES, draft)
    nodes = await edges(inbox, first=preview["evaluated"])
    assert len(nodes) == preview["evaluated"]
    by_id = {node["id"]: node for node in nodes}
    suggested_or_stored = sum(1 for n in nodes if n["storage"]["shouldStore"])
    assert suggested_or_stored == counts["STORE"] + counts["SUGGEST"]
    for example in preview["examples"]:
        node = by_id[example["conversation"]["id"]]
        assert node["storage"]["shouldStore"] == (example["action"] != "NEVER")
        rule = node["storage"]["rule"]
        assert (rule and rule["name"]) == (example["rule"] and example["rule"]["name"])


async def test_an_inbox_page_costs_as_many_queries_with_20_rules_as_with_none(
    inbox: Inbox,
) -> None:
    """After a first read, each read follows a change of the rules (which ends what was kept of
    them, and nothing else), so both read the rules afresh and the rest from what was kept."""

    async def cost() -> int:
        result = await inbox.query(INBOX, {"first": 20})
        queries: int = result["extensions"]["cost"]["dbQueries"]
        return queries

    await cost()
    await succeed(inbox, SET_POLICY, {"channel": "WHATSAPP", "policy": "MANUAL"})
    without = await cost()
    rules = [
        {"name": f"Rule {n}", "action": "SUGGEST", "domainsIn": [f"d{n}.example"]}
        for n in range(20)
    ]
    await succeed(inbox, SET_RULES, {"rules": rules})
    assert await StorageRuleRow.all().count() == 20
    assert await cost() == without


async def test_a_policy_or_never_store_change_is_audited_and_a_policy_sweeps(
    inbox: Inbox,
) -> None:
    await succeed(inbox, SET_POLICY, {"channel": "WHATSAPP", "policy": "AUTO"})
    await succeed(inbox, ADD_NEVER_STORE, {"kind": "DOMAIN", "value": "Lawyers.example"})
    policy, listed = await StorageAuditEntry.all().order_by("id")
    alice = await User.get(email="alice@demo.switchboard.test")
    assert {policy.user_id, listed.user_id} == {alice.id}
    assert json.loads(policy.before)["policies"] == {}
    assert json.loads(policy.after)["policies"] == {"WHATSAPP": "AUTO"}
    assert json.loads(listed.before)["neverStore"]["DOMAIN"] == []
    assert json.loads(listed.after)["neverStore"]["DOMAIN"] == ["lawyers.example"]
    # The policy may store more now: its sweep was requested (the never-store list only
    # ever stores less).
    assert await StorageSweep.all().count() == 1

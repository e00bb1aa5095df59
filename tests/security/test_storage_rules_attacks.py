"""Attacks on the storage-rules API (issue 18) over HTTP, on SQLite and PostgreSQL: another
workspace's admin, a member, forged and oversized ids and rules, concurrent replacements, a
replayed dry run and no token at all. Each must end in a clean error with a stable code, and
nothing deleted, written or revealed."""

# The fixtures tests/inbox and tests/crm_mutations define are imported, and pytest passes them to
# the tests by name: F811 for every parameter named after one.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from datetime import timedelta
from typing import Any

import httpx

from access.tokens import issue_token
from core.identity import Identity
from core.vocabulary import JobState, Role, StorageAuditAction
from db.models import Conversation, StorageAuditEntry, StorageRuleRow, StoreJob, User
from storing.pruning import MAX_PRUNABLE
from tests.crm_mutations.conftest import Rival, rival  # noqa: F401
from tests.crm_mutations.graphql import fail, mutation, succeed
from tests.inbox.conftest import (  # noqa: F401
    SIGNING_KEY,
    Inbox,
    demo_tokens,
    inbox,
    sandbox_url,
)
from tests.storing.test_pruning import (
    EXPIRE,
    PAGE,
    PRUNABLE,
    PURGE,
    STORE,
    age,
    dry_run,
    gmail_id,
    settled,
    stored_automatically,
    stored_ids,
)

SET_RULES = mutation(
    "setStorageRules", "StorageRulesInput", "rules { rules { name isChannelPolicy } ownDomains }"
)
STORAGE_RULES = "{ storageRules { rules { name isChannelPolicy conditions { accountIds } } } }"
PREVIEW = """query($input: StorageRulesInput!) { previewStorageRules(input: $input) {
    evaluated changed counts { action count }
    examples { action currentAction conversation { id account { id } } } } }"""
NEVER_GMAIL = "Gmail: never"


def gid(type_name: str, key: str) -> str:
    """A global id forged as the API would issue it (standard base64 of `Type:key`)."""
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def codes(result: dict[str, Any]) -> list[str]:
    return [str((e.get("extensions") or {}).get("code")) for e in result.get("errors") or []]


async def never_gmail(inbox: Inbox) -> set[str]:
    """Stores alice's matched email, then a rule leaves her Gmail's copies unkept: the ids her
    dry run lists."""
    await stored_automatically(inbox)
    rule = {"name": NEVER_GMAIL, "action": "NEVER", "accountIds": [await gmail_id()]}
    await succeed(inbox, SET_RULES, {"rules": [rule]})
    await settled()
    listed = {item["conversationId"] for item in await dry_run(inbox, "UNMATCHED")}
    assert listed
    return listed


async def decisions(inbox: Inbox) -> dict[str, Any]:
    result = await inbox.query(PAGE)
    assert "errors" not in result, result
    return {e["node"]["id"]: e["node"]["storage"] for e in result["data"]["conversations"]["edges"]}


async def audits(action: StorageAuditAction) -> int:
    return await StorageAuditEntry.filter(action=action).count()


async def test_another_workspaces_admin_touches_and_sees_nothing(
    inbox: Inbox,
    rival: Rival,
) -> None:
    listed = await never_gmail(inbox)
    before = await stored_ids()
    shown = await decisions(inbox)
    for document in (PURGE, EXPIRE):
        payload = await call_payload(inbox, document, {"conversationIds": sorted(listed)}, "eve")
        assert payload == {"deleted": [], "error": None}
    assert await stored_ids() == before
    assert await audits(StorageAuditAction.PURGED) == await audits(StorageAuditAction.EXPIRED) == 0
    for kind in ("UNMATCHED", "EXPIRED"):
        assert await dry_run(inbox, kind, user="eve") == []

    # eve's rules are her workspace's: alice's decisions stay as they were.
    for action in ("STORE", "NEVER"):
        await succeed(inbox, SET_RULES, {"rules": [{"name": "All", "action": action}]}, "eve")
        assert await decisions(inbox) == shown
    # A rule naming alice's account is refused, like an id naming nothing.
    theirs = {"name": "Theirs", "action": "STORE", "accountIds": [await gmail_id()]}
    error = await fail(inbox, SET_RULES, {"rules": [theirs]}, user="eve")
    assert error["code"] == "BAD_USER_INPUT"
    result = await inbox.query(PREVIEW, {"input": {"rules": [theirs]}}, user="eve")
    assert codes(result) == ["BAD_USER_INPUT"]
    eve = await User.get(email="eve@rival.test")
    eves = await StorageRuleRow.filter(workspace_id=eve.workspace_id)
    assert [json.loads(row.definition)["name"] for row in eves] == ["All"]
    # alice's rules are not eve's to read.
    rules = (await inbox.query(STORAGE_RULES, user="eve"))["data"]["storageRules"]["rules"]
    assert NEVER_GMAIL not in {rule["name"] for rule in rules}


async def raw(
    inbox: Inbox, query: str, variables: dict[str, Any], user: str | None = "alice"
) -> httpx.Response:
    """A request as any client may send it: JSON's own escapes (a lone surrogate, `NaN`,
    `Infinity`), and no token at all for `user=None`."""
    headers = {"Content-Type": "application/json"}
    if user is not None:
        headers["Authorization"] = f"Bearer {inbox.tokens[user]}"
    body = json.dumps({"query": query, "variables": variables})
    async with httpx.AsyncClient(base_url=inbox.url, timeout=30) as client:
        return await client.post("/graphql", content=body, headers=headers)


async def call_payload(
    inbox: Inbox, document: str, given: dict[str, Any], user: str = "alice"
) -> dict[str, Any]:
    result = await inbox.query(document, {"input": given}, user=user)
    assert "errors" not in result, result
    payload: dict[str, Any] = next(iter(result["data"].values()))
    return payload


async def test_a_member_is_refused_every_admin_operation(inbox: Inbox) -> None:
    listed = await never_gmail(inbox)
    before, rules_before = await stored_ids(), await StorageRuleRow.all().count()
    audited = await StorageAuditEntry.all().count()
    error = await fail(inbox, SET_RULES, {"rules": [{"name": "All", "action": "STORE"}]}, "bob")
    assert error["code"] == "FORBIDDEN"
    for document in (PURGE, EXPIRE):
        error = await fail(inbox, document, {"conversationIds": sorted(listed)}, user="bob")
        assert error["code"] == "FORBIDDEN"
    for kind in ("UNMATCHED", "EXPIRED"):
        result = await inbox.query(PRUNABLE, {"kind": kind}, user="bob")
        assert codes(result) == ["FORBIDDEN"] and result["data"] is None
    assert await stored_ids() == before
    assert await StorageRuleRow.all().count() == rules_before
    assert await StorageAuditEntry.all().count() == audited

    # Reading the rules is every user's; a preview decides over the viewer's own inbox only.
    rules = (await inbox.query(STORAGE_RULES, user="bob"))["data"]["storageRules"]["rules"]
    assert rules[0]["name"] == NEVER_GMAIL
    everything = {"rules": [{"name": "All", "action": "STORE"}]}
    result = await inbox.query(PREVIEW, {"input": everything}, user="bob")
    assert "errors" not in result, result
    preview = result["data"]["previewStorageRules"]
    mine = await inbox.query("{ accounts { id } }", user="bob")
    bobs = {account["id"] for account in mine["data"]["accounts"]}
    assert preview["examples"]
    assert {e["conversation"]["account"]["id"] for e in preview["examples"]} <= bobs
    assert await gmail_id() not in bobs
    assert not {e["conversation"]["id"] for e in preview["examples"]} & before
    assert await StorageRuleRow.all().count() == rules_before


FORGED_CONVERSATIONS = (
    "x" * 10_000,
    "../../etc",
    "../../etc/passwd",
    gid("Conversation", "1:../x"),
    gid("Conversation", "0:x"),
    gid("Conversation", "99999999999:x"),
    gid("Conversation", "-1:x"),
    gid("Conversation", "1:" + "y" * 256),
    gid("Conversation", "1:a\x00b"),
    "Q29udmVyc2F0aW9uOjE6YQ\x00==",
    "\x00",
    gid("Conversation", "1"),
    gid("Account", "1"),
    "",
)


async def test_forged_conversation_ids_are_bad_input_and_delete_nothing(inbox: Inbox) -> None:
    listed = await never_gmail(inbox)
    before = await stored_ids()
    for document in (PURGE, EXPIRE):
        for forged in FORGED_CONVERSATIONS:
            error = await fail(inbox, document, {"conversationIds": [forged]})
            assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "conversationIds[0]"), (
                forged
            )
        # A forged id among real ones spoils the whole request.
        error = await fail(inbox, document, {"conversationIds": [*sorted(listed), "../../etc"]})
        assert error["code"] == "BAD_USER_INPUT"
        too_many = [gid("Conversation", f"1:c{n}") for n in range(MAX_PRUNABLE + 1)]
        error = await fail(inbox, document, {"conversationIds": too_many})
        assert error["code"] == "BAD_USER_INPUT"
    lone = await raw(inbox, PURGE, {"input": {"conversationIds": ["\ud800"]}})
    assert lone.status_code == 200, lone.text
    assert lone.json()["data"]["purgeUnmatched"]["error"]["code"] == "BAD_USER_INPUT"
    assert await stored_ids() == before
    assert await audits(StorageAuditAction.PURGED) == 0

    # Well-formed ids of nothing, and each listed id many times: deleted once each.
    absent = [gid("Conversation", f"{2**31 - 1}:x"), gid("Conversation", "1:nothing")]
    doubled = [*sorted(listed)] * 3 + absent
    payload = await call_payload(inbox, PURGE, {"conversationIds": doubled})
    assert payload["error"] is None
    assert sorted(item["conversationId"] for item in payload["deleted"]) == sorted(listed)
    assert await stored_ids() == before - listed
    [entry] = await StorageAuditEntry.filter(action=StorageAuditAction.PURGED)
    assert len(json.loads(entry.before)) == len(listed)


FORGED_ACCOUNTS = (
    gid("Account", "-1"),
    gid("Account", "abc"),
    gid("Account", "0"),
    gid("Account", "99999999999"),
    gid("Account", str(2**31 - 1)),
    gid("Account", "1\x00"),
    gid("Contact", "1"),
    gid("Conversation", "1:x"),
    "Account:1",
    "x" * 10_000,
    "\x00",
)


async def test_forged_account_ids_are_bad_input(inbox: Inbox) -> None:
    for forged in FORGED_ACCOUNTS:
        draft = {"rules": [{"name": "x", "action": "STORE", "accountIds": [forged]}]}
        error = await fail(inbox, SET_RULES, draft)
        assert error["code"] == "BAD_USER_INPUT", forged
        result = await inbox.query(PREVIEW, {"input": draft})
        assert codes(result) == ["BAD_USER_INPUT"], (forged, result)
    assert await StorageRuleRow.all().count() == 0
    assert await audits(StorageAuditAction.RULES_CHANGED) == 0


def rule(**conditions: Any) -> dict[str, Any]:
    return {"name": "x", "action": "STORE", **conditions}


HUGE_RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("rules", {"rules": [rule() for _ in range(51)]}),
    ("rules[0].name", {"rules": [rule(name="x" * 10_000)]}),
    ("rules[0].domainsIn", {"rules": [rule(domainsIn=[f"d{n}.example" for n in range(101)])]}),
    ("rules[0].domainsNotIn[0]", {"rules": [rule(domainsNotIn=["a" * 5_000 + ".example"])]}),
    ("rules[0].folders", {"rules": [rule(folders=[f"F{n}" for n in range(101)])]}),
    ("ownDomains", {"rules": [], "ownDomains": [f"d{n}.example" for n in range(101)]}),
    ("rules[0].minConfidence", {"rules": [rule(match="EITHER", minConfidence=1e308)]}),
    ("rules[0].minConfidence", {"rules": [rule(match="EITHER", minConfidence=1.0000001)]}),
    ("rules[0].minConfidence", {"rules": [rule(match="EITHER", minConfidence=-1e-308)]}),
    ("rules[0].maxParticipants", {"rules": [rule(maxParticipants=2**31 - 1)]}),
    ("rules[0].minParticipants", {"rules": [rule(minParticipants=-1)]}),
    ("rules[0].daysBack", {"rules": [rule(daysBack=0)]}),
    ("rules[0].daysBack", {"rules": [rule(daysBack=-30)]}),
    ("rules[0].retentionDays", {"rules": [rule(retentionDays=-(2**31))]}),
    ("rules[0].messagesPerConversation", {"rules": [rule(messagesPerConversation=2**31 - 1)]}),
)
# What GraphQL's Int and Float cannot carry, sent as JSON's NaN, Infinity and big numbers.
UNCARRIED: tuple[dict[str, Any], ...] = (
    rule(match="EITHER", minConfidence=float("nan")),
    rule(match="EITHER", minConfidence=float("inf")),
    rule(match="EITHER", minConfidence=float("-inf")),
    rule(maxParticipants=2**31),
    rule(daysBack=-(2**31) - 1),
)


async def test_huge_and_out_of_range_rules_are_bad_input(inbox: Inbox) -> None:
    for field, draft in HUGE_RULES:
        error = await fail(inbox, SET_RULES, draft)
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", field), error
        result = await inbox.query(PREVIEW, {"input": draft})
        assert codes(result) == ["BAD_USER_INPUT"], (field, result)
        assert result["errors"][0]["extensions"]["argument"] == f"input.{field}", result
    for uncarried in UNCARRIED:
        for document in (SET_RULES, PREVIEW):
            response = await raw(inbox, document, {"input": {"rules": [uncarried]}})
            assert response.status_code == 200, response.text
            assert codes(response.json()) == ["BAD_USER_INPUT"], (uncarried, response.json())
    # At the edges: taken, -0.0 as 0.
    edge = rule(match="EITHER", minConfidence=-0.0, maxParticipants=10_000, daysBack=36_500)
    assert await StorageRuleRow.all().count() == 0
    await succeed(inbox, SET_RULES, {"rules": [edge] * 50})
    assert await StorageRuleRow.all().count() == 50
    assert await audits(StorageAuditAction.RULES_CHANGED) == 1


async def test_a_replayed_dry_run_deletes_what_the_rules_keep_again(inbox: Inbox) -> None:
    listed = await never_gmail(inbox)
    await succeed(inbox, SET_RULES, {"rules": []})
    await settled()
    before = await stored_ids()
    assert listed <= before
    payload = await call_payload(inbox, PURGE, {"conversationIds": sorted(listed)})
    assert payload == {"deleted": [], "error": None}

    # The same with retention: a rule that expired them, then one that keeps them for ever.
    expiring = rule(name="Email: 30 days", channels=["EMAIL"], match="EITHER", retentionDays=30)
    await succeed(inbox, SET_RULES, {"rules": [expiring]})
    await settled()
    for conversation_id in before:
        await age(conversation_id, 31)
    expired = {item["conversationId"] for item in await dry_run(inbox, "EXPIRED")}
    assert expired
    await succeed(inbox, SET_RULES, {"rules": [{**expiring, "retentionDays": None}]})
    payload = await call_payload(inbox, EXPIRE, {"conversationIds": sorted(expired)})
    assert payload == {"deleted": [], "error": None}
    assert await stored_ids() == before
    assert await audits(StorageAuditAction.PURGED) == await audits(StorageAuditAction.EXPIRED) == 0


UNAUTHENTICATED: tuple[tuple[str, dict[str, Any]], ...] = (
    (STORAGE_RULES, {}),
    (PREVIEW, {"input": {"rules": []}}),
    (PRUNABLE, {"kind": "UNMATCHED"}),
    (PRUNABLE, {"kind": "EXPIRED"}),
    (SET_RULES, {"input": {"rules": []}}),
    (PURGE, {"input": {"conversationIds": []}}),
    (EXPIRE, {"input": {"conversationIds": []}}),
)


async def test_no_token_is_unauthenticated_and_an_empty_draft_changes_nothing(
    inbox: Inbox,
) -> None:
    for document, variables in UNAUTHENTICATED:
        response = await raw(inbox, document, variables, user=None)
        assert response.status_code == 200, response.text
        assert codes(response.json()) == ["UNAUTHENTICATED"], (document, response.json())
        assert (response.json().get("data") or None) is None, response.json()
    assert await StorageRuleRow.all().count() == 0
    assert await StorageAuditEntry.all().count() == 0

    result = await inbox.query(PREVIEW, {"input": {"rules": []}})
    assert "errors" not in result, result
    preview = result["data"]["previewStorageRules"]
    assert preview["evaluated"] > 0 and preview["changed"] == 0
    assert sum(row["count"] for row in preview["counts"]) == preview["evaluated"]
    assert all(e["action"] == e["currentAction"] for e in preview["examples"])
    assert await StorageRuleRow.all().count() == 0


async def test_two_admins_replacing_the_rules_at_once_leave_one_whole_list(inbox: Inbox) -> None:
    alice = await User.get(email="alice@demo.switchboard.test")
    carol = await User.create(
        workspace_id=alice.workspace_id,
        email="carol@demo.switchboard.test",
        name="Carol",
        role=Role.ADMIN,
    )
    inbox.tokens["carol"] = issue_token(
        Identity(carol.id, carol.workspace_id), SIGNING_KEY, timedelta(hours=1)
    )
    lists = {
        "alice": [f"alice {n}" for n in range(7)],
        "carol": [f"carol {n}" for n in range(11)],
    }
    for round_ in range(3):
        await asyncio.gather(
            *(
                succeed(inbox, SET_RULES, {"rules": [rule(name=n) for n in names]}, user)
                for user, names in lists.items()
            )
        )
        rows = sorted(
            await StorageRuleRow.all(), key=lambda row: json.loads(row.definition)["position"]
        )
        assert [json.loads(row.definition)["name"] for row in rows] in lists.values()
        entries = await StorageAuditEntry.filter(action=StorageAuditAction.RULES_CHANGED).order_by(
            "id"
        )
        assert len(entries) == 2 * (round_ + 1)
        # Each change read the rules the one before it left.
        for earlier, later in itertools.pairwise(entries):
            assert json.loads(later.before)["rules"] == json.loads(earlier.after)["rules"]


async def test_a_rule_stores_without_a_match_and_a_user_may_store_it_too(inbox: Inbox) -> None:
    await succeed(inbox, SET_RULES, {"rules": [rule(name="Every email", channels=["EMAIL"])]})
    await settled()
    kept = await Conversation.filter(storage_reason="RULE")
    assert kept, "the sweep stored unmatched email by the rule"
    assert not await StoreJob.filter(state=JobState.FAILED).exists()
    stored = kept[0]
    conversation_id = gid("Conversation", f"{stored.account_id}:{stored.external_id}")
    result = await inbox.query(STORE, {"input": {"conversationId": conversation_id}})
    assert result["data"]["storeConversation"]["error"] is None
    await stored.refresh_from_db()
    assert stored.storage_reason == "MANUAL_STORE"

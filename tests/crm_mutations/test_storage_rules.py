"""setStoragePolicy, addNeverStore and removeNeverStore over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from core.vocabulary import Channel
from db.models import NeverStoreEntry, StoragePolicySetting
from tests.crm_mutations.conftest import Rival
from tests.crm_mutations.graphql import (
    ADD_NEVER_STORE,
    REMOVE_NEVER_STORE,
    SET_POLICY,
    fail,
    succeed,
)
from tests.inbox.conftest import Inbox


def policies(rules: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {row["channel"]: (row["policy"], row["isDefault"]) for row in rules["policies"]}


async def test_a_policy_is_set_and_set_again(inbox: Inbox) -> None:
    rules = (await succeed(inbox, SET_POLICY, {"channel": "WHATSAPP", "policy": "AUTO"}))["rules"]
    assert len(rules["policies"]) == len(Channel)
    assert policies(rules)["WHATSAPP"] == ("AUTO", False)
    assert policies(rules)["EMAIL"] == ("AUTO", True)
    assert policies(rules)["LINKEDIN"] == ("MANUAL", True)
    rules = (await succeed(inbox, SET_POLICY, {"channel": "WHATSAPP", "policy": "NEVER"}))["rules"]
    assert policies(rules)["WHATSAPP"] == ("NEVER", False)
    assert await StoragePolicySetting.all().count() == 1


async def test_add_never_store_is_idempotent_and_normalises(inbox: Inbox) -> None:
    given = {"kind": "EMAIL", "value": " Spam@Example.org"}
    await succeed(inbox, ADD_NEVER_STORE, given)
    rules = (await succeed(inbox, ADD_NEVER_STORE, {"kind": "EMAIL", "value": "spam@example.org"}))[
        "rules"
    ]
    assert rules["neverStore"] == [{"kind": "EMAIL", "value": "spam@example.org"}]
    assert await NeverStoreEntry.all().count() == 1
    rules = (await succeed(inbox, ADD_NEVER_STORE, {"kind": "PHONE", "value": "06 12 34 56 78"}))[
        "rules"
    ]
    rules = (
        await succeed(
            inbox, ADD_NEVER_STORE, {"kind": "DOMAIN", "value": "https://Mail.Example.net/x"}
        )
    )["rules"]
    assert rules["neverStore"] == [
        {"kind": "EMAIL", "value": "spam@example.org"},
        {"kind": "PHONE", "value": "+33612345678"},
        {"kind": "DOMAIN", "value": "mail.example.net"},
    ]


async def test_remove_never_store_is_idempotent(inbox: Inbox) -> None:
    await succeed(inbox, ADD_NEVER_STORE, {"kind": "DOMAIN", "value": "example.net"})
    for _ in range(2):
        rules = (
            await succeed(inbox, REMOVE_NEVER_STORE, {"kind": "DOMAIN", "value": "EXAMPLE.net"})
        )["rules"]
        assert rules["neverStore"] == []


async def test_an_invalid_value_is_bad_input(inbox: Inbox) -> None:
    for kind, value in (("EMAIL", "nobody"), ("PHONE", "12"), ("DOMAIN", "not a host")):
        for document in (ADD_NEVER_STORE, REMOVE_NEVER_STORE):
            error = await fail(inbox, document, {"kind": kind, "value": value})
            assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "value")
    assert await NeverStoreEntry.all().count() == 0


async def test_rules_are_the_workspace_s_own(inbox: Inbox, rival: Rival) -> None:
    await succeed(inbox, ADD_NEVER_STORE, {"kind": "EMAIL", "value": "x@example.org"})
    await succeed(inbox, SET_POLICY, {"channel": "EMAIL", "policy": "NEVER"})
    rules = (
        await succeed(
            inbox, REMOVE_NEVER_STORE, {"kind": "EMAIL", "value": "x@example.org"}, user="eve"
        )
    )["rules"]
    assert rules["neverStore"] == []
    assert policies(rules)["EMAIL"] == ("AUTO", True)
    assert await NeverStoreEntry.all().count() == 1, "eve's call removed nothing of the demo's"

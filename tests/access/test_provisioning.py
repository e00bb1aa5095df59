"""Workspaces and users provisioned on first sight of a CRM token, kept current from its claims,
kept apart, refused when disabled or when their email is another workspace's, and free in steady
state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from access.tokens import issue_token
from core.identity import Identity
from core.vocabulary import Role
from db.models import User, Workspace
from tests.access.conftest import Serve, Served, hs256_token
from tests.inbox.conftest import SIGNING_KEY

ADMIN_ONLY = (
    "mutation { setStoragePolicy(input: {channel: WHATSAPP, policy: MANUAL}) { error { code } } }"
)
CREATE_CONTACT = (
    'mutation($first: String!) { createContact(input: {firstName: $first, lastName: "Crm"})'
    " { contact { id } error { code } } }"
)
CONTACTS = "{ contacts(first: 20) { totalCount edges { node { id name } } } }"


def codes(result: dict[str, Any]) -> set[str]:
    """The error codes of a result, top-level and in mutation payloads."""
    found = {e["extensions"]["code"] for e in result.get("errors") or []}
    for payload in (result.get("data") or {}).values():
        if isinstance(payload, dict) and payload.get("error"):
            found.add(payload["error"]["code"])
    return found


async def test_first_sight_provisions_the_workspace_and_the_user(serve: Serve) -> None:
    with serve("secret") as served:
        viewer = await served.viewer(hs256_token(role="ADMIN"))
        again = await served.viewer(hs256_token(role="ADMIN"))
        nameless = await served.viewer(
            hs256_token(
                workspace_id="crm-ws-2",
                workspace_name=None,
                email="ada@other.test",
                name=None,
                role=None,
            )
        )
    assert viewer == again
    workspace = await Workspace.get(external_id="crm-ws-1")
    user = await User.get(workspace=workspace, external_id="crm-user-1")
    assert (workspace.name, workspace.slug) == ("Acme Inc.", "acme-inc")
    assert (user.email, user.name, user.role, user.is_active) == (
        "ada@acme.test",
        "Ada Lovelace",
        Role.ADMIN,
        True,
    )
    assert viewer["workspace"]["slug"] == "acme-inc"
    # Without the optional claims: named by the external id and the email, a member.
    assert nameless["workspace"]["name"] == "crm-ws-2"
    assert nameless["user"]["name"] == "ada"
    other = await User.get(workspace__external_id="crm-ws-2")
    assert other.role is Role.MEMBER
    assert await Workspace.all().count() == 2


async def test_workspaces_of_one_name_get_slugs_of_their_own(serve: Serve) -> None:
    with serve("secret") as served:
        first = await served.viewer(hs256_token(workspace_id="a", sub="1", email="1@a.test"))
        second = await served.viewer(hs256_token(workspace_id="b", sub="1", email="1@b.test"))
    slugs = {first["workspace"]["slug"], second["workspace"]["slug"]}
    assert len(slugs) == 2 and "acme-inc" in slugs
    assert all(slug.startswith("acme-inc") for slug in slugs)


async def test_changed_claims_update_email_name_and_role(serve: Serve) -> None:
    with serve("secret") as served:
        member = await served.viewer(hs256_token())
        refused = await served.post(ADMIN_ONLY, hs256_token())
        promoted_token = hs256_token(email="ada.l@acme.test", name="Ada King", role="admin")
        promoted = await served.viewer(promoted_token)
        allowed = await served.post(ADMIN_ONLY, promoted_token)
        demoted = await served.post(
            ADMIN_ONLY, hs256_token(email="ada.l@acme.test", name="Ada King", role="member")
        )
    assert codes(refused) == {"FORBIDDEN"}
    assert codes(allowed) == set()
    assert codes(demoted) == {"FORBIDDEN"}
    assert promoted["user"]["id"] == member["user"]["id"]
    assert (promoted["user"]["email"], promoted["user"]["name"]) == ("ada.l@acme.test", "Ada King")
    user = await User.get(external_id="crm-user-1")
    assert (user.email, user.name, user.role) == ("ada.l@acme.test", "Ada King", Role.MEMBER)
    assert await User.all().count() == 1


async def test_an_older_token_does_not_restore_what_a_newer_one_changed(serve: Serve) -> None:
    """The CRM demotes a user; their earlier admin token, still valid, stays a member's, also
    after a restart (a new process: no identity cache)."""
    minted = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    admin_token = hs256_token(role="admin", iat=minted)
    with serve("secret") as served:
        assert codes(await served.post(ADMIN_ONLY, admin_token)) == set()
        member_token = hs256_token(role="member", iat=minted + timedelta(minutes=1))
        assert codes(await served.post(ADMIN_ONLY, member_token)) == {"FORBIDDEN"}
    with serve("secret") as restarted:
        assert codes(await restarted.post(ADMIN_ONLY, admin_token)) == {"FORBIDDEN"}
        renamed = hs256_token(role="member", name="Ada K", iat=minted - timedelta(minutes=1))
        assert (await restarted.viewer(renamed))["user"]["name"] == "Ada Lovelace"
    user = await User.get(external_id="crm-user-1")
    assert (user.role, user.claims_issued_at) == (Role.MEMBER, minted + timedelta(minutes=1))


async def test_a_user_an_operator_made_beforehand_is_adopted(serve: Serve) -> None:
    workspace = await Workspace.create(name="Acme", slug="acme", external_id="crm-ws-1")
    operator_made = await User.create(
        workspace=workspace, email="ada@acme.test", name="Ada", role=Role.ADMIN
    )
    with serve("secret") as served:
        # No role claim: the role the operator gave stays.
        viewer = await served.viewer(hs256_token(email="ADA@acme.test", role=None))
        allowed = await served.post(ADMIN_ONLY, hs256_token(email="ADA@acme.test", role=None))
    adopted = await User.get(id=operator_made.id)
    assert adopted.external_id == "crm-user-1"
    assert (adopted.name, adopted.role) == ("Ada Lovelace", Role.ADMIN)
    assert viewer["workspace"]["slug"] == "acme"
    assert codes(allowed) == set()
    assert await User.all().count() == 1


async def test_an_email_of_another_workspaces_user_is_refused(serve: Serve) -> None:
    elsewhere = await Workspace.create(name="Elsewhere", slug="elsewhere", external_id="crm-ws-9")
    held = await User.create(workspace=elsewhere, email="ada@acme.test", name="Other Ada")
    with serve("secret") as served:
        first_sight = await served.refusal(hs256_token())
        settled = await served.viewer(hs256_token(email="ada2@acme.test"))
        changed_to_it = await served.refusal(hs256_token())
    assert "belongs to a user of another workspace" in first_sight
    assert "belongs to another user" in changed_to_it
    unchanged = await User.get(id=held.id)
    assert (unchanged.workspace_id, unchanged.external_id, unchanged.name) == (
        elsewhere.id,
        None,
        "Other Ada",
    )
    assert settled["user"]["email"] == "ada2@acme.test"
    mine = await User.get(workspace__external_id="crm-ws-1")
    assert mine.email == "ada2@acme.test"


async def test_the_same_user_id_in_two_workspaces_is_two_users_who_see_nothing_of_each_other(
    serve: Serve,
) -> None:
    alpha = hs256_token(workspace_id="alpha", workspace_name="Alpha", email="u@alpha.test")
    beta = hs256_token(workspace_id="beta", workspace_name="Beta", email="u@beta.test")
    with serve("secret") as served:
        in_alpha = await served.viewer(alpha)
        in_beta = await served.viewer(beta)
        made = await served.post(CREATE_CONTACT, alpha, {"first": "AlphaOnly"})
        await served.post(CREATE_CONTACT, beta, {"first": "BetaOnly"})
        alpha_contacts = await served.post(CONTACTS, alpha)
        beta_contacts = await served.post(CONTACTS, beta)
        probe = await served.post(
            "query($id: ID!) { node(id: $id) { id } }",
            beta,
            {"id": made["data"]["createContact"]["contact"]["id"]},
        )
    assert in_alpha["user"]["id"] != in_beta["user"]["id"]
    assert in_alpha["workspace"]["id"] != in_beta["workspace"]["id"]
    assert names(alpha_contacts) == ["AlphaOnly Crm"]
    assert names(beta_contacts) == ["BetaOnly Crm"]
    assert probe["data"]["node"] is None
    assert await User.filter(external_id="crm-user-1").count() == 2


def names(result: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in result["data"]["contacts"]["edges"]]


async def test_a_disabled_user_is_refused_at_once(serve: Serve) -> None:
    token = hs256_token()
    with serve("secret") as served:
        await served.viewer(token)
        await User.filter(external_id="crm-user-1").update(is_active=False)
        cached = await served.refusal(token)
        fresh_claims = await served.refusal(hs256_token(name="Ada Again"))
        await User.filter(external_id="crm-user-1").update(is_active=True)
        back = await served.viewer(token)
    assert "disabled" in cached
    assert "disabled" in fresh_claims
    assert back["user"]["email"] == "ada@acme.test"
    assert (await User.get(external_id="crm-user-1")).name == "Ada Lovelace"


async def test_concurrent_first_requests_make_one_workspace_and_one_user_each(
    serve: Serve,
) -> None:
    same = hs256_token(workspace_id="rush")
    colleagues = [
        hs256_token(workspace_id="rush", sub=f"u{n}", email=f"u{n}@rush.test") for n in range(6)
    ]
    with serve("secret") as served:
        viewers = await asyncio.gather(*(served.viewer(t) for t in [same] * 6 + colleagues))
    assert len({v["user"]["id"] for v in viewers[:6]}) == 1
    assert len({v["user"]["id"] for v in viewers}) == 7
    assert len({v["workspace"]["id"] for v in viewers}) == 1
    assert await Workspace.all().count() == 1
    assert await User.all().count() == 7


async def test_steady_state_costs_the_queries_of_an_own_token(serve: Serve) -> None:
    token = hs256_token()
    with serve("secret") as served:
        first = await cost(served, token)
        steady = [await cost(served, token) for _ in range(3)]
        user = await User.get(external_id="crm-user-1")
        own = issue_token(Identity(user.id, user.workspace_id), SIGNING_KEY, timedelta(hours=1))
        own_cost = await cost(served, own)
    assert steady == [own_cost] * 3
    assert first > own_cost, "the first request provisions, so the counter sees authentication"


async def cost(served: Served, token: str) -> int:
    await served.viewer(token)
    return served.query_counts[-1]

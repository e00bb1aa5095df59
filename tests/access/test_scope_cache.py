"""The viewer's scope kept across requests: served without a query while the user's row and the
workspace's accounts are unchanged, read again the first request after any writer changed them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from access.crm_tokens import CrmClaims
from access.directory import set_user_active
from access.provisioning import provisioned_user
from access.scope import ScopeCache, ViewerScope, load_viewer_scope, scope_keys
from accounts import detach, set_shared
from core.identity import Identity
from core.vocabulary import Role
from crm.caching import read_snapshot, watch_versions
from db.metrics import count_queries
from db.models import Account, User, Workspace
from db.versions import MemoryVersions
from server.demo import DEMO_USERS, load_demo


@dataclass
class Viewers:
    """A process's versions and scope cache, over the demo workspace."""

    versions: MemoryVersions
    cache: ScopeCache
    alice: Identity
    bob: Identity

    async def scope(self, identity: Identity) -> tuple[ViewerScope | None, int]:
        """The scope as a request reads it, and the queries that cost."""
        snapshot = await read_snapshot(self.versions, scope_keys(identity))
        with count_queries() as queries:
            scope = await load_viewer_scope(identity, self.cache, snapshot)
        return scope, queries.value


async def _identity(name: str) -> Identity:
    user = await User.get(email=DEMO_USERS[name][0])
    return Identity(user.id, user.workspace_id)


@pytest.fixture
async def viewers(database: str) -> AsyncIterator[Viewers]:
    await load_demo(7)
    versions = MemoryVersions()
    watch_versions(versions)
    yield Viewers(versions, ScopeCache(100), await _identity("alice"), await _identity("bob"))


def _unipile_ids(scope: ViewerScope | None) -> set[str]:
    assert scope is not None
    return {account.unipile_id for account in scope.accounts}


async def test_a_kept_scope_costs_no_query(viewers: Viewers) -> None:
    first, cold = await viewers.scope(viewers.alice)
    second, warm = await viewers.scope(viewers.alice)
    assert (cold, warm) == (1, 0)
    assert second == first


async def test_a_kept_scope_takes_each_tokens_identity_with_the_users_role(
    viewers: Viewers,
) -> None:
    await viewers.scope(viewers.alice)
    scope, queries = await viewers.scope(viewers.alice)
    assert queries == 0
    assert scope is not None and scope.identity == Identity(
        viewers.alice.user_id, viewers.alice.workspace_id, Role.ADMIN
    )


async def test_a_disabled_user_is_refused_at_the_next_read_and_welcome_once_enabled(
    viewers: Viewers,
) -> None:
    await viewers.scope(viewers.bob)
    await set_user_active(DEMO_USERS["bob"][0], False)
    refused, _ = await viewers.scope(viewers.bob)
    assert refused is None
    await set_user_active(DEMO_USERS["bob"][0], True)
    welcome, queries = await viewers.scope(viewers.bob)
    assert welcome is not None and queries == 1


async def test_a_role_the_claims_change_is_the_next_reads_role(viewers: Viewers) -> None:
    scope, _ = await viewers.scope(viewers.bob)
    assert scope is not None and scope.identity.role is Role.MEMBER
    workspace = await Workspace.get(id=viewers.bob.workspace_id)
    claims = CrmClaims(
        workspace_external_id="crm-demo",
        workspace_name=None,
        user_external_id="crm-bob",
        email=DEMO_USERS["bob"][0],
        name=None,
        role=Role.ADMIN,
    )
    await provisioned_user(workspace, claims)
    promoted, queries = await viewers.scope(viewers.bob)
    assert promoted is not None and promoted.identity.role is Role.ADMIN
    assert queries == 1


async def test_a_detached_account_leaves_the_next_scope(viewers: Viewers) -> None:
    before, _ = await viewers.scope(viewers.alice)
    assert "acc_gmail_demo_000001" in _unipile_ids(before)
    await detach(await Account.get(unipile_id="acc_gmail_demo_000001"))
    after, _ = await viewers.scope(viewers.alice)
    assert _unipile_ids(after) == _unipile_ids(before) - {"acc_gmail_demo_000001"}


async def test_sharing_and_unsharing_an_account_is_seen_by_the_workspaces_other_users(
    viewers: Viewers,
) -> None:
    outlook = await Account.get(unipile_id="acc_outlook_demo_00001")
    before, _ = await viewers.scope(viewers.bob)
    assert outlook.unipile_id not in _unipile_ids(before)
    await set_shared(outlook, True)
    shared, _ = await viewers.scope(viewers.bob)
    assert _unipile_ids(shared) == _unipile_ids(before) | {outlook.unipile_id}
    await set_shared(outlook, False)
    unshared, _ = await viewers.scope(viewers.bob)
    assert _unipile_ids(unshared) == _unipile_ids(before)


async def test_a_change_to_another_users_row_keeps_this_users_scope(viewers: Viewers) -> None:
    await viewers.scope(viewers.alice)
    await set_user_active(DEMO_USERS["bob"][0], False)
    _, queries = await viewers.scope(viewers.alice)
    assert queries == 0

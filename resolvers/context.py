"""The context every resolver receives: who asks, and the services and loaders of the request.

Strawberry builds one context per HTTP request, but only one per WebSocket connection: whatever is
cached here (scope, loaders) must be rebuilt per operation there, with `fresh()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from access.scope import ViewerScope, load_viewer_scope
from core.cursors import CursorCodec, ViewerCursors
from core.errors import Forbidden, SwitchboardError, Unauthenticated
from core.identity import Identity
from core.vocabulary import StorageReason
from crm import StorageRules
from inbox.loaders import AttendeeCache, Loaders, ReadCaches
from inbox.reading import Reading
from paging import Pager, PagingStore
from realtime.shared import SharedResults
from sending.messages import Outbox

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from accounts.hosted_auth import HostedAuth
    from inbox.live_cache import LiveCache
    from realtime.live_lists import Prefetcher
    from realtime.pubsub import PubSub
    from unipile import UnipileClient


class StoreScheduler(Protocol):
    def schedule(
        self,
        account_id: int,
        external_id: str,
        reason: StorageReason,
        rule_id: str | None = None,
        seen_at: float | None = None,
    ) -> None:
        """Queue a conversation for automatic storage, after the current request, within the
        sync limits of the rule `rule_id` (the channel's without one), unless a job of it ended
        after `seen_at`, when the caller read it unstored."""


class SweepRequests(Protocol):
    async def request(self, workspace_id: int) -> None:
        """Decide the workspace's recent conversations again under its rules, in the
        background, and queue those to store automatically (`storing.sweeps`)."""


@dataclass(slots=True)
class Services:
    """Long-lived collaborators, built once by the app factory."""

    unipile: UnipileClient
    live_cache: LiveCache
    prefetcher: Prefetcher
    pubsub: PubSub
    auto_store: StoreScheduler
    sweeper: SweepRequests
    paging: PagingStore
    cursors: CursorCodec
    # None where no hosted auth is configured (tests of other parts): connectAccount then fails.
    hosted_auth: HostedAuth | None = None
    attendee_cache: AttendeeCache = field(default_factory=AttendeeCache)
    shared_facts: SharedResults[Any] = field(default_factory=SharedResults)
    # Storage rules and CRM matches kept across requests (`crm.caching`).
    read_caches: ReadCaches = field(default_factory=ReadCaches)


@dataclass(slots=True)
class Context:
    request: Request | WebSocket | None
    services: Services
    identity: Identity | None
    auth_problem: str = "authentication required"
    connection_params: dict[str, object] | None = None
    # Expected failures that do not fail the whole field, such as one account's upstream error.
    partial_errors: list[SwitchboardError] = field(default_factory=list)
    _scope: ViewerScope | None = None
    _reading: Reading | None = None

    def fresh(self) -> Context:
        """The same viewer with empty caches: one per subscription event."""
        return Context(request=self.request, services=self.services, identity=self.identity)

    def viewer(self) -> Identity:
        if self.identity is None:
            raise Unauthenticated(self.auth_problem)
        return self.identity

    def require_admin(self) -> Identity:
        """The viewer, who must be an ADMIN of their workspace (verified by `authenticate`)."""
        identity = self.viewer()
        if not identity.is_admin:
            raise Forbidden("only a workspace admin may do this")
        return identity

    async def authenticate(self) -> None:
        """Verify, once, that the token's user still exists and is active, reading their role and
        scope with it; a token whose user is gone leaves the context unauthenticated."""
        if self.identity is None or self._scope is not None:
            return
        scope = await load_viewer_scope(self.identity)
        if scope is None:
            self.identity = None
            self.auth_problem = "the token's user no longer exists or is disabled"
            return
        self._scope = scope
        self.identity = scope.identity

    async def scope(self) -> ViewerScope:
        await self.authenticate()
        self.viewer()
        assert self._scope is not None, "an authenticated context has its scope"
        return self._scope

    def pager(self, list_key: str) -> Pager:
        """The viewer's walk through a live list: cursors sealed for them and that list."""
        return Pager(self.services.paging, self.services.cursors, self.viewer().user_id, list_key)

    def cursors(self) -> ViewerCursors:
        """Offset cursors of database lists, sealed for the viewer."""
        return ViewerCursors(self.services.cursors, self.viewer().user_id)

    def outbox(self) -> Outbox:
        """Where the viewer's sends go: their workspace's, through UniPile."""
        return Outbox(self.services.unipile, self.services.live_cache, self.viewer().workspace_id)

    async def reading(self) -> Reading:
        """The viewer's reads in this request, which report their partial errors here."""
        if self._reading is None:
            self._reading = Reading.for_viewer(
                await self.scope(),
                self.services.unipile,
                self.services.attendee_cache,
                self.partial_errors,
                caches=self.services.read_caches,
            )
        return self._reading

    async def loaders(self) -> Loaders:
        return (await self.reading()).loaders

    async def rules(self) -> StorageRules:
        return await (await self.reading()).rules()

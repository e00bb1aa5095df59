"""One viewer's reads: what every domain function that reads for them is given, by GraphQL or by
webhook processing alike."""

from __future__ import annotations

from dataclasses import dataclass, field

from access.scope import ViewerScope
from core.errors import SwitchboardError
from crm import StorageRules
from inbox.loaders import AttendeeCache, Loaders, ReadCaches
from unipile import UnipileClient


@dataclass(slots=True)
class Reading:
    """The viewer's scope, the loaders of one request, the workspace's storage rules (read once,
    or kept from an earlier request), and the problems met on the way that do not fail the read
    (one account's upstream error)."""

    scope: ViewerScope
    loaders: Loaders
    problems: list[SwitchboardError] = field(default_factory=list)

    @classmethod
    def for_viewer(
        cls,
        scope: ViewerScope,
        unipile: UnipileClient,
        attendee_cache: AttendeeCache,
        problems: list[SwitchboardError] | None = None,
        *,
        caches: ReadCaches | None = None,
    ) -> Reading:
        loaders = Loaders.for_viewer(scope, unipile, attendee_cache, caches)
        return cls(scope, loaders, [] if problems is None else problems)

    async def rules(self) -> StorageRules:
        return await self.loaders.rules.get()

"""One viewer's reads: what every domain function that reads for them is given, by GraphQL or by
webhook processing alike."""

from __future__ import annotations

from dataclasses import dataclass, field

from access.scope import ViewerScope
from core.errors import SwitchboardError
from crm import StorageRules, load_storage_rules
from inbox.loaders import AttendeeCache, Loaders
from unipile import UnipileClient


@dataclass(slots=True)
class Reading:
    """The viewer's scope, the loaders of one request, the workspace's storage rules (read once),
    and the problems met on the way that do not fail the read (one account's upstream error)."""

    scope: ViewerScope
    loaders: Loaders
    problems: list[SwitchboardError] = field(default_factory=list)
    _rules: StorageRules | None = None

    @classmethod
    def for_viewer(
        cls,
        scope: ViewerScope,
        unipile: UnipileClient,
        attendee_cache: AttendeeCache,
        problems: list[SwitchboardError] | None = None,
    ) -> Reading:
        loaders = Loaders.for_viewer(scope, unipile, attendee_cache)
        return cls(scope, loaders, [] if problems is None else problems)

    async def rules(self) -> StorageRules:
        if self._rules is None:
            self._rules = await load_storage_rules(self.scope.identity.workspace_id)
        return self._rules

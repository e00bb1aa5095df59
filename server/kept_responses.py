"""Answers kept and given again: the same query, asked again by the same viewer with the same
variables, answered from the answer it got before while everything that answer was made of is
unchanged, without executing it.

An answer is kept only when it was made of versioned reads alone (`core.read_ledger`): after the
viewer's scope, no database query and no UniPile request, only pages of the live cache and the
reads the workspace keeps under its versions; a query, no error, nothing queued. It is given
again while the viewer's scope reads the same (their role, their accounts, the workspace's
versions of its kept reads: `ViewerScope.read_as`, read on every request to verify the token's
user anyway), the live lists it read have the versions they had, and none of those pages has
grown older than the live cache serves them. So an answer is never older than a live page can be
(`LIVE_CACHE_SECONDS`), and whatever invalidates one (a webhook, a send, a change in the CRM, the
rules or the stored copies) invalidates the answers made of it.

Answers are kept as their JSON (an `orjson.Fragment`, encoded once), bounded in bytes, the least
recently used going first.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, cast

import orjson
from strawberry.http import GraphQLRequestData
from strawberry.types.execution import ExecutionResult

from core.read_ledger import ReadLedger, recording
from db.metrics import QueryCounter, count_queries
from db.versions import Versions
from resolvers.context import Context
from server.observability.metrics import KEPT_ANSWERS
from unipile import RequestCounter, count_requests

DEFAULT_MAX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ResponseKey:
    user_id: int
    workspace_id: int
    query: str
    operation_name: str | None
    variables: bytes


@dataclass(frozen=True, slots=True)
class KeptResponse:
    read_as: bytes
    keys: tuple[str, ...]
    versions: tuple[int, ...]
    fresh_until: float
    pages: tuple[str, ...]
    data: orjson.Fragment
    size: int
    rewrites: tuple[Callable[[], Awaitable[None]], ...]


@dataclass(slots=True)
class KeptStats:
    """What the kept answers did since the process started, counted into the metrics too."""

    hits: int = 0
    misses: int = 0
    kept: int = 0
    # Found, but made of something that changed since.
    outdated: int = 0

    def hit(self) -> None:
        self.hits += 1
        _HIT.inc()

    def missed(self) -> None:
        self.misses += 1
        _MISS.inc()

    def keep(self) -> None:
        self.kept += 1
        _KEPT.inc()

    def outdate(self) -> None:
        self.outdated += 1
        _OUTDATED.inc()


_HIT, _MISS, _KEPT, _OUTDATED = (
    KEPT_ANSWERS.labels(event) for event in ("hit", "miss", "kept", "outdated")
)


@dataclass(slots=True)
class _Cost:
    queries: QueryCounter
    requests: RequestCounter

    def report(self) -> dict[str, Any]:
        return {"cost": {"dbQueries": self.queries.value, "upstreamRequests": self.requests.value}}


def variables_key(variables: Mapping[str, Any] | None) -> bytes | None:
    """The variables as one value, equal exactly when they are: the standard library's JSON,
    which spells out the floats `NaN` and `Infinity` that a request's JSON may carry (orjson
    writes them as `null`) and escapes lone surrogates. None for variables it cannot write (an
    integer of more digits than Python converts), whose answers are not kept."""
    try:
        return json.dumps(variables, sort_keys=True, separators=(",", ":")).encode("ascii")
    except ValueError:
        return None


class KeptResponses:
    def __init__(
        self,
        versions: Versions,
        holds: Callable[[Iterable[str]], bool],
        *,
        max_age: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
        report_cost: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.versions = versions
        # Whether the live cache still holds these pages (`LiveCache.holds`).
        self.holds = holds
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.report_cost = report_cost
        self.clock = clock
        self.stats = KeptStats()
        self.bytes = 0
        self._kept: OrderedDict[ResponseKey, KeptResponse] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    async def answer(
        self,
        context: Context,
        request: GraphQLRequestData,
        execute: Callable[[], Awaitable[ExecutionResult]],
    ) -> ExecutionResult:
        """The answer kept for this request while current; else `execute()`'s, kept if it may
        be."""
        key = self._key(context, request)
        if key is None:
            return await execute()
        with ExitStack() as stack:
            cost = _Cost(
                stack.enter_context(count_queries()), stack.enter_context(count_requests())
            )
            await context.authenticate()
            if context.identity is None:
                return await execute()
            kept = await self._current(key, context)
            if kept is not None:
                self.stats.hit()
                for rewrite in kept.rewrites:
                    await rewrite()
                return self._given_again(kept, cost)
            self.stats.missed()
            queries, requests = cost.queries.value, cost.requests.value
            with recording() as ledger:
                result = await execute()
            made_of_reads_only = cost.queries.value == queries and cost.requests.value == requests
            if made_of_reads_only:
                await self._keep(key, context, ledger, result)
            if self.report_cost and result.extensions is not None and "cost" in result.extensions:
                result.extensions = {**result.extensions, **cost.report()}
            return result

    def _key(self, context: Context, request: GraphQLRequestData) -> ResponseKey | None:
        identity = context.identity
        if (
            identity is None
            or request.query is None
            or request.extensions
            or self.max_age <= 0
            or self.max_bytes <= 0
        ):
            return None
        variables = variables_key(request.variables)
        if variables is None:
            return None
        query, name = request.query, request.operation_name
        return ResponseKey(identity.user_id, identity.workspace_id, query, name, variables)

    async def _current(self, key: ResponseKey, context: Context) -> KeptResponse | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        scope = await context.scope()
        current = (
            kept.read_as == scope.read_as
            and self.clock() < kept.fresh_until
            and self.holds(kept.pages)
            and await self.versions.current(kept.keys) == kept.versions
        )
        if not current:
            self.stats.outdate()
            self._drop(key)
            return None
        self._kept.move_to_end(key)
        return kept

    def _given_again(self, kept: KeptResponse, cost: _Cost) -> ExecutionResult:
        # The kept JSON takes the place of the data: the view encodes it as it is.
        data = cast("dict[str, Any]", kept.data)
        extensions = None
        if self.report_cost:
            extensions = cost.report()
            extensions["cost"]["keptAnswer"] = True
        return ExecutionResult(data=data, errors=None, extensions=extensions)

    async def _keep(
        self, key: ResponseKey, context: Context, ledger: ReadLedger, result: ExecutionResult
    ) -> None:
        if ledger.unkeepable or result.errors or result.data is None:
            return
        now = self.clock()
        fresh_until = min(ledger.fresh_until, now + self.max_age)
        if now >= fresh_until:
            return
        encoded = orjson.dumps(result.data)
        scope = await context.scope()
        query_bytes = len(key.query.encode("utf-8", "surrogatepass"))
        size = (
            len(encoded)
            + query_bytes
            + len(key.variables)
            + len(scope.read_as)
            + ledger.rewrite_bytes
        )
        if size > self.max_bytes:
            return
        keys = tuple(ledger.versions)
        kept = KeptResponse(
            scope.read_as,
            keys,
            tuple(ledger.versions[version_key] for version_key in keys),
            fresh_until,
            tuple(ledger.pages),
            orjson.Fragment(encoded),
            size,
            tuple(ledger.rewrites),
        )
        self._drop(key)
        self._kept[key] = kept
        self.bytes += size
        self.stats.keep()
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._kept)))

    def _drop(self, key: ResponseKey) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self.bytes -= kept.size

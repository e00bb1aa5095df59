"""Fault injection and request counting for ``/api/v1`` (never for ``/_sandbox``)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from unipile.sandbox._problems import MISSING_CREDENTIALS, ApiError, invalid
from unipile.sandbox._shapes import JSON
from unipile.sandbox.settings import SandboxSettings

API_PREFIX = "/api/v1"
ALL_ACCOUNTS = "*"
"""The account key of requests that read every account at once (a list without ``account_id``)."""
ACCOUNT_SETS = ("disconnected_accounts", "hang_accounts")
"""The fault fields that are sets of account ids."""


@dataclass
class Faults:
    """The live fault knobs; same names as in ``SandboxSettings``."""

    latency_ms: float
    jitter_ms: float
    error_rate: float
    rate_limit_rate: float
    rate_limit_retry_after_s: float
    hang_rate: float
    hang_s: float
    disconnected_accounts: set[str]
    hang_accounts: set[str]

    @classmethod
    def from_settings(cls, settings: SandboxSettings) -> Faults:
        values = {f.name: getattr(settings, f.name) for f in fields(cls)}
        for name in ACCOUNT_SETS:
            values[name] = set(values[name])
        return cls(**values)

    def update(self, data: Mapping[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        if unknown := set(data) - known:
            raise invalid(f"unknown fault fields: {sorted(unknown)}")
        try:
            changes = {
                name: set(map(str, value)) if name in ACCOUNT_SETS else float(value)
                for name, value in data.items()
            }
        except (TypeError, ValueError) as exc:
            raise invalid("fault values must be numbers (and a list of account ids)") from exc
        for name, value in changes.items():
            setattr(self, name, value)

    def as_json(self) -> JSON:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ACCOUNT_SETS:
            data[name] = sorted(data[name])
        return data


@dataclass
class _Request:
    """The ``/api/v1`` request being handled: its route template, the accounts it named, and the
    accounts whose requests hang (as the faults were when it arrived)."""

    route: str
    accounts: set[str] = field(default_factory=set)
    hang_accounts: frozenset[str] = frozenset()


class _Hang(Exception):
    """Raised when a request names an account of ``hang_accounts``; the middleware hangs it."""


_current: ContextVar[_Request | None] = ContextVar("sandbox_request", default=None)


class RequestStats:
    """Requests by route template, and by account: which routes read or wrote whose data."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.by_account: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def touched(self, account_id: str) -> None:
        """Count the current request once against ``account_id`` (outside a request: nothing);
        a request naming an account of ``hang_accounts`` hangs from here."""
        request = _current.get()
        if request is not None and account_id not in request.accounts:
            request.accounts.add(account_id)
            self.by_account[account_id][request.route] += 1
            if account_id in request.hang_accounts:
                raise _Hang(account_id)

    def reset(self) -> None:
        self.counts.clear()
        self.by_account.clear()

    def as_json(self) -> JSON:
        return {"requests": dict(self.counts), "total": self.counts.total()}

    def accounts_json(self) -> JSON:
        return {"accounts": {account: dict(routes) for account, routes in self.by_account.items()}}


def _route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """``GET /api/v1/chats/{chat_id}``-style key, so stats do not grow one entry per id."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return f"{scope['method']} {getattr(route, 'path', scope['path'])}"
    return f"{scope['method']} {scope['path']}"


async def _hang(receive: Receive, seconds: float) -> None:
    # Waiting for the disconnect lets a hung request end as soon as the client gives up.
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass


class FaultMiddleware:
    """Counts ``/api/v1`` requests, then applies latency, API-key check and random faults."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        faults: Faults,
        stats: RequestStats,
        api_key: str,
        rng: random.Random,
        routes: Sequence[BaseRoute],
    ) -> None:
        self.app, self.faults, self.stats = app, faults, stats
        self.api_key, self.rng, self.routes = api_key, rng, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        route = _route_template(scope, self.routes)
        self.stats.counts[route] += 1
        token = _current.set(_Request(route, hang_accounts=frozenset(self.faults.hang_accounts)))
        try:
            await self._faulted(scope, receive, send)
        except _Hang:
            # Raised by the handler before it answered anything.
            await self._hang(scope, receive, send)
        finally:
            _current.reset(token)

    async def _hang(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _hang(receive, self.faults.hang_s)
        await ApiError(504, "request_timeout", "Request timed out").response()(scope, receive, send)

    async def _faulted(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.faults
        delay_ms = faults.latency_ms + self.rng.uniform(0.0, faults.jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if dict(scope["headers"]).get(b"x-api-key", b"").decode() != self.api_key:
            await MISSING_CREDENTIALS.response()(scope, receive, send)
            return
        draw = self.rng.random()
        if draw < faults.hang_rate:
            await self._hang(scope, receive, send)
        elif draw < faults.hang_rate + faults.rate_limit_rate:
            retry_after = {"Retry-After": f"{faults.rate_limit_retry_after_s:g}"}
            too_many = ApiError(429, "too_many_requests", "Too many requests")
            await too_many.response(retry_after)(scope, receive, send)
        elif draw < faults.hang_rate + faults.rate_limit_rate + faults.error_rate:
            unavailable = ApiError(503, "service_unavailable", "Service unavailable")
            await unavailable.response()(scope, receive, send)
        else:
            await self.app(scope, receive, send)

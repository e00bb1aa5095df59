"""Hosted-auth links: the body of ``POST /hosted/accounts/link`` validated, and the bounded table
of links the sandbox has handed out.

The checks follow the reference (5.1): ``type``, ``expiresOn``, ``api_url`` and ``providers`` are
required, the rest optional. Guesses, since the reference gives no limits or error details: each
refusal is a 400 ``errors/invalid_parameters`` (``errors/missing_parameters`` for an absent field,
``errors/too_many_characters`` past ``MAX_TEXT``) naming the field; an ``expiresOn`` in the past
is refused; ``reconnect_account`` is refused on a ``create`` link.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from unipile._timestamps import parse_timestamp
from unipile.sandbox._problems import ApiError, invalid, missing

__all__ = ["MAX_LINKS", "PROVIDER_TYPES", "HostedLink", "HostedLinks", "parse_link"]

PROVIDER_TYPES = {
    "WHATSAPP": "WHATSAPP",
    "LINKEDIN": "LINKEDIN",
    "GOOGLE": "GOOGLE_OAUTH",
    "MICROSOFT": "OUTLOOK",
    "IMAP": "MAIL",
}
"""Providers a link may allow → the type of the account connecting one makes. UniPile also
offers INSTAGRAM and TELEGRAM; the sandbox has no demo data for them, so it refuses them."""
MAX_TEXT = 2048
"""Longest ``name`` or URL accepted (a guess: UniPile documents no limit)."""
MAX_LINKS = 1000
"""Links kept at once; past it, the oldest is forgotten (its URL then answers 404)."""
EXPIRED_KEPT = timedelta(minutes=10)
"""How long an expired link still answers 410 rather than 404 before it is pruned."""
KINDS = ("create", "reconnect")
URL_FIELDS = ("notify_url", "success_redirect_url", "failure_redirect_url")


@dataclass
class HostedLink:
    id: str
    kind: str
    """``create`` or ``reconnect``."""
    expires_on: datetime
    providers: tuple[str, ...]
    """Allowed providers (keys of ``PROVIDER_TYPES``), in the order the page lists them."""
    name: str | None
    notify_url: str | None
    success_redirect_url: str | None
    failure_redirect_url: str | None
    reconnect_account: str | None
    used: bool = False

    def expired(self, now: datetime) -> bool:
        return now > self.expires_on


def _too_long(field: str) -> ApiError:
    return ApiError(
        400, "too_many_characters", "Too many characters", f"{field} exceeds {MAX_TEXT} characters"
    )


def _text(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(f"{field} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise _too_long(field)
    return value


def _required(body: Mapping[str, Any], field: str) -> Any:
    if body.get(field) is None:
        raise missing(f"{field} is required")
    return body[field]


def _url(body: Mapping[str, Any], field: str) -> str | None:
    value = _text(body, field)
    if value is None:
        return None
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        raise invalid(f"{field} must be an http(s) URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise invalid(f"{field} must be an http(s) URL")
    return value


def _expires_on(body: Mapping[str, Any], now: datetime) -> datetime:
    value = _required(body, "expiresOn")
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise invalid("expiresOn must be an ISO 8601 date")
    try:
        moment = parse_timestamp(value)
    except ValueError:
        raise invalid("expiresOn must be an ISO 8601 date") from None
    if moment <= now:
        raise invalid("expiresOn is in the past")
    return moment


def _providers(body: Mapping[str, Any]) -> tuple[str, ...]:
    value = _required(body, "providers")
    if value == "*":
        return tuple(PROVIDER_TYPES)
    # Checked before the items are read: a long list is refused without looking at it.
    if not isinstance(value, list) or not 0 < len(value) <= len(PROVIDER_TYPES):
        raise invalid(f'providers must be "*" or a list of 1 to {len(PROVIDER_TYPES)} providers')
    unknown = [p for p in value if not isinstance(p, str) or p not in PROVIDER_TYPES]
    if unknown:
        raise invalid(f"providers: unknown provider, expected one of {', '.join(PROVIDER_TYPES)}")
    return tuple(dict.fromkeys(value))


def _reconnect_account(
    body: Mapping[str, Any], kind: str, known: Callable[[str], bool]
) -> str | None:
    account_id = _text(body, "reconnect_account")
    if kind == "create":
        if account_id is not None:
            raise invalid("reconnect_account is only for a link of type reconnect")
        return None
    if account_id is None:
        raise missing("reconnect_account is required for a link of type reconnect")
    if not known(account_id):
        raise invalid("reconnect_account: no such account")
    return account_id


def parse_link(
    link_id: str, body: Mapping[str, Any], *, now: datetime, known: Callable[[str], bool]
) -> HostedLink:
    """The link a request body describes, or the ``ApiError`` UniPile would answer;
    ``known(account_id)`` says whether an account exists."""
    kind = _required(body, "type")
    if kind not in KINDS:
        raise invalid("type must be create or reconnect")
    expires_on = _expires_on(body, now)
    api_url = _url(body, "api_url")
    if api_url is None:
        raise missing("api_url is required")
    urls = {field: _url(body, field) for field in URL_FIELDS}
    return HostedLink(
        id=link_id,
        kind=kind,
        expires_on=expires_on,
        providers=_providers(body),
        name=_text(body, "name"),
        notify_url=urls["notify_url"],
        success_redirect_url=urls["success_redirect_url"],
        failure_redirect_url=urls["failure_redirect_url"],
        reconnect_account=_reconnect_account(body, kind, known),
    )


class HostedLinks:
    """The links handed out, oldest first; bounded by ``MAX_LINKS`` and pruned of those expired
    for longer than ``EXPIRED_KEPT``."""

    def __init__(self) -> None:
        self._links: OrderedDict[str, HostedLink] = OrderedDict()

    def add(self, link: HostedLink, now: datetime) -> None:
        self._prune(now)
        while len(self._links) >= MAX_LINKS:
            self._links.popitem(last=False)
        self._links[link.id] = link

    def get(self, link_id: str) -> HostedLink | None:
        return self._links.get(link_id)

    def __len__(self) -> int:
        return len(self._links)

    def _prune(self, now: datetime) -> None:
        cutoff = now - EXPIRED_KEPT
        for link_id in [i for i, link in self._links.items() if link.expires_on < cutoff]:
            del self._links[link_id]

"""UniPile's hosted auth, played by the sandbox: ``POST /api/v1/hosted/accounts/link`` hands out
``{sandbox}/hosted/{link id}``, and that page connects an account with fresh demo data.

Visiting the page connects at once when the link allows one provider (or reconnects one account),
or when ``?provider=X`` names one; otherwise it lists the allowed providers, each a button that
POSTs the form back. A POST with a JSON body ``{"provider": "WHATSAPP"}`` connects too and answers
``{"account_id", "status"}`` (a sandbox-only shape, for tests). Then UniPile's callback goes to the
link's ``notify_url`` and an ``account_status`` webhook to those registered.

Guesses, as the reference does not show UniPile's pages: a browser is sent on to
``success_redirect_url`` with ``account_id`` added to its query (``failure_redirect_url`` with
``error``, the error's type, when connecting fails), or shown a "connected" page; an unknown link
is a 404 page, an expired or used one a 410 (``errors/expired_link``); a JSON POST gets the same
statuses as RFC-7807 JSON.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from unipile.sandbox._http import form, json_body, ok, sandbox
from unipile.sandbox._links import HostedLink
from unipile.sandbox._problems import ApiError

__all__ = ["ROUTES"]

UNKNOWN_LINK = ApiError(
    404, "resource_not_found", "Resource not found.", "Unknown hosted-auth link"
)
MAX_PROVIDER_LENGTH = 64
NOT_A_PROVIDER = "?"
"""Stands for a provider value that is not a name (a number, 10,000 characters): no link allows
it, so it is refused as any provider the link does not allow."""


async def create_link(request: Request) -> JSONResponse:
    box = sandbox(request)
    link = box.create_link(await json_body(request))
    base = str(request.base_url).rstrip("/")
    return ok({"object": "HostedAuthUrl", "url": f"{base}/hosted/{quote(link.id, safe='')}"})


def _link(request: Request) -> HostedLink:
    link = sandbox(request).links.get(str(request.path_params["link_id"]))
    if link is None:
        raise UNKNOWN_LINK
    return link


def _provider(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_PROVIDER_LENGTH:
        return NOT_A_PROVIDER
    return value


async def visit(request: Request) -> Response:
    try:
        link = _link(request)
    except ApiError as error:
        return _error_page(error)
    provider = _provider(request.query_params.get("provider"))
    if provider is None and _offers_choice(link):
        return _chooser(request, link)
    return _connect_in_browser(request, link, provider)


def _offers_choice(link: HostedLink) -> bool:
    """Whether the page lists providers: a live create link allowing several."""
    live = not link.used and not link.expired(datetime.now(UTC))
    return live and link.kind == "create" and len(link.providers) > 1


async def submit(request: Request) -> Response:
    if request.headers.get("content-type", "").startswith("application/json"):
        return _connect_for_api(request, _link(request), await json_body(request))
    try:
        link = _link(request)
    except ApiError as error:
        return _error_page(error)
    return _connect_in_browser(request, link, _provider((await form(request)).get("provider")))


def _connect_for_api(request: Request, link: HostedLink, body: dict[str, Any]) -> Response:
    account_id, status = sandbox(request).use_link(link, _provider(body.get("provider")))
    return ok({"account_id": account_id, "status": status})


def _connect_in_browser(request: Request, link: HostedLink, provider: str | None) -> Response:
    try:
        account_id, status = sandbox(request).use_link(link, provider)
    except ApiError as error:
        if link.failure_redirect_url is not None and error.status != 410:
            return _redirect(link.failure_redirect_url, error=f"errors/{error.type}")
        return _error_page(error)
    if link.success_redirect_url is not None:
        return _redirect(link.success_redirect_url, account_id=account_id)
    verb = "reconnected" if status == "RECONNECTED" else "connected"
    return _page(200, "Account " + verb, f"<p>Account {html.escape(account_id)} is {verb}.</p>")


def _redirect(url: str, **params: str) -> RedirectResponse:
    parts = urlsplit(url)
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=303)


def _chooser(request: Request, link: HostedLink) -> Response:
    action = html.escape(request.url.path)
    buttons = "".join(
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="provider" value="{html.escape(p)}">'
        f'<button type="submit">Connect {html.escape(p)}</button></form>'
        for p in link.providers
    )
    return _page(200, "Connect an account", buttons)


def _error_page(error: ApiError) -> Response:
    return _page(error.status, error.title, f"<p>{html.escape(error.detail or error.title)}</p>")


def _page(status: int, title: str, body: str) -> HTMLResponse:
    heading = html.escape(title)
    document = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{heading}</title></head>"
        f"<body><h1>{heading}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status)


ROUTES = [
    Route("/api/v1/hosted/accounts/link", create_link, methods=["POST"]),
    # `:path` so that any id, `../..` or `a/b` included, reaches the lookup and its 404 page.
    Route("/hosted/{link_id:path}", visit),
    Route("/hosted/{link_id:path}", submit, methods=["POST"]),
]

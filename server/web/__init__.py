"""The reference frontend (`web/`), built by `make web` into `dist/` and served from there: no
Node at run time.

`/` and the app's own paths (`/conversations/<id>`) answer with its index.html under a strict
Content-Security-Policy (scripts and styles from this origin only; connections to this origin
and its WebSocket; no frames of this page elsewhere), never cached, as in the embedded mode it
carries a fresh demo token for the sign-in step, in a `<meta>` the app reads (no inline script).
`/assets/*` are Vite's content-hashed files, cached for a year: a new build has new names.
"""

from __future__ import annotations

import html
import os
import re
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.demo import demo_token
from server.state import app_state

DIST = Path(__file__).resolve().parent / "dist"
ASSET_PREFIX = "/assets"
# The paths the app routes itself (web/src/router.ts), each answered with index.html.
APP_PATHS = ("/", "/conversations/{conversation_id:path}")
DEMO_TOKEN_META = "switchboard-demo-token"
HEAD_END = "</head>"
# A Host header as browsers send it: a name or an IPv4 or bracketed IPv6 address, a port.
HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
FIXED_POLICY = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
NOT_BUILT = "The frontend is not built: run `make web`."


class FrontendNotBuilt(RuntimeError):
    """`dist/index.html` is missing or has no `</head>` to put the demo token before."""


def content_security_policy(host: str | None) -> str:
    """The page's policy. connect-src names the WebSocket of the host the page was loaded from
    as well as 'self' (which covers it in CSP 3, not in every browser); a Host header that is
    not one is left out, so that nothing it holds reaches the header."""
    connect = ["'self'"]
    if host is not None and HOST.fullmatch(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    return "; ".join((*FIXED_POLICY, "connect-src " + " ".join(connect)))


@cache
def index_html() -> str:
    path = DIST / "index.html"
    if not path.is_file():
        raise FrontendNotBuilt(NOT_BUILT)
    page = path.read_text(encoding="utf-8")
    if HEAD_END not in page:
        raise FrontendNotBuilt(f"{path} has no {HEAD_END}")
    return page


def page_with_token(page: str, token: str | None) -> str:
    """index.html with the demo token for the sign-in step, when there is one."""
    if token is None:
        return page
    meta = f'<meta name="{DEMO_TOKEN_META}" content="{html.escape(token, quote=True)}">\n'
    return page.replace(HEAD_END, meta + HEAD_END, 1)


async def sign_in_token(request: Request) -> str | None:
    """A fresh token of the demo's alice in the embedded mode (none before the demo is loaded);
    never with a real UniPile, whose users sign in with their CRM's tokens."""
    state = app_state(request)
    if not state.settings.uses_sandbox:
        return None
    return await demo_token(state.signing_key, state.settings.token_ttl_hours)


async def app_page(request: Request) -> Response:
    try:
        page = index_html()
    except FrontendNotBuilt as problem:
        return PlainTextResponse(str(problem), status_code=503, headers=PAGE_HEADERS)
    headers = {
        **PAGE_HEADERS,
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
    }
    return HTMLResponse(page_with_token(page, await sign_in_token(request)), headers=headers)


class HashedAssets(StaticFiles):
    """Vite's output files, whose names change with their contents: cacheable for good."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def web_routes() -> list[BaseRoute]:
    """The app's pages and its assets; the API stays at /graphql."""
    pages: list[BaseRoute] = [Route(path, app_page, methods=["GET"]) for path in APP_PATHS]
    assets = HashedAssets(directory=DIST / "assets", check_dir=False)
    return [*pages, Mount(ASSET_PREFIX, app=assets)]


__all__ = ["FrontendNotBuilt", "content_security_policy", "page_with_token", "web_routes"]

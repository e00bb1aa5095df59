"""GraphiQL served by this server alone: the page at `GET /graphql` (for browsers) and its pinned
assets under `/graphiql/`, listed with their sha384 in `assets/manifest.json`.

Nothing is loaded from elsewhere: the page's Content-Security-Policy allows this origin only,
and its scripts and styles carry `integrity=` attributes from the manifest. The page's settings
(endpoint, default query, headers) are a JSON data block that the shipped bootstrap script reads,
so no inline script runs. `make graphiql-assets` refreshes the vendored files
(`server/graphiql/refresh.py`).

With the embedded sandbox (no `UNIPILE_DSN`) the Headers editor opens with a fresh bearer token
for the demo user, so a newcomer's first query works; with a real UniPile it shows where a token
goes, and holds none.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from server.demo import demo_token
from server.state import app_state

ASSETS = Path(__file__).resolve().parent / "assets"
ASSET_PREFIX = "/graphiql"
ENDPOINT = "/graphql"

STYLESHEETS = ("graphiql.min.css", "switchboard-graphiql.css")
SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "switchboard-graphiql.js",
)
PLACEHOLDER_HEADERS = '{"Authorization": "Bearer <token>"}'
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # GraphiQL's stylesheet embeds its fonts and icons as data: URLs.
        "font-src 'self' data:",
        "img-src 'self' data:",
        # 'self' covers the ws: and wss: URLs of this origin too (CSP level 3).
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
DEFAULT_QUERY = """\
# Switchboard. Run the query with Ctrl-Enter or the run button; the Headers tab below
# holds the bearer token that every request and subscription sends.
#
# Live messages: run this in a new tab, then post a message (in the demo, to the
# sandbox's POST /_sandbox/messages, see the README):
#
#   subscription { messageReceived { message { text } conversation { externalId channel } } }

query Inbox($after: String) {
  conversations(first: 50, after: $after, filter: {unread: true}) {
    edges { node {
      id externalId channel subject isGroup lastMessageAt lastMessagePreview unreadCount
        hasAttachments canLink
      account { name provider }
      participants { identifier displayName isSelf role phoneNumber
        crmMatch { contact { id name } company { id name } method confidence ambiguous } }
      storage { stored shouldStore reason storedAt }
      links { target { id kind name } source rule createdAt }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


class AssetError(RuntimeError):
    """A shipped GraphiQL file is missing or differs from its manifest."""


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    content_type: str
    integrity: str
    body: bytes

    @property
    def url(self) -> str:
        return f"{ASSET_PREFIX}/{self.name}"

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


@cache
def assets() -> dict[str, Asset]:
    """The manifest's files, read once and checked against their recorded sha384."""
    manifest = json.loads((ASSETS / "manifest.json").read_text(encoding="utf-8"))
    found: dict[str, Asset] = {}
    for name, entry in manifest["files"].items():
        path = ASSETS / name
        if not path.is_file():
            raise AssetError(f"GraphiQL asset {name} is missing: run `make graphiql-assets`")
        body = path.read_bytes()
        if sri_sha384(body) != entry["sha384"]:
            raise AssetError(
                f"GraphiQL asset {name} differs from its manifest: run `make graphiql-assets`"
            )
        found[name] = Asset(name, entry["content_type"], entry["sha384"], body)
    return found


def sri_sha384(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def _json_block(value: object) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` that could end it."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_html(headers: str, query: str = DEFAULT_QUERY) -> str:
    served = assets()
    styles = "\n".join(
        f'    <link rel="stylesheet" href="{served[name].url}" '
        f'integrity="{served[name].integrity}">'
        for name in STYLESHEETS
    )
    scripts = "\n".join(
        f'    <script src="{served[name].url}" integrity="{served[name].integrity}" defer></script>'
        for name in SCRIPTS
    )
    config = _json_block({"endpoint": ENDPOINT, "headers": headers, "query": query})
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Switchboard GraphiQL</title>
    <link rel="icon" href="data:,">
{styles}
    <script type="application/json" id="switchboard-graphiql">{config}</script>
{scripts}
  </head>
  <body>
    <div id="graphiql">{html.escape("Loading GraphiQL…")}</div>
  </body>
</html>
"""


async def header_editor_text(request: Request) -> str:
    """The Headers editor's first contents: a fresh demo token with the embedded sandbox, where
    the token goes otherwise (or when the demo is not loaded yet)."""
    state = app_state(request)
    settings = state.settings
    if settings.uses_sandbox:
        token = await demo_token(state.signing_key, settings.token_ttl_hours)
        if token is not None:
            return json.dumps({"Authorization": f"Bearer {token}"}, indent=2)
    return PLACEHOLDER_HEADERS


PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The page may hold a token: never stored by a cache, never sent on as a referrer.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


async def graphiql_page(request: Request) -> Response:
    return HTMLResponse(page_html(await header_editor_text(request)), headers=PAGE_HEADERS)


async def serve_asset(request: Request) -> Response:
    asset = assets().get(request.path_params["name"])
    if asset is None:
        return PlainTextResponse("Not Found", status_code=404)
    headers = {
        "ETag": asset.etag,
        # Revalidated on each load (a 304 when unchanged), so a refresh never meets a stale copy
        # that fails its new integrity hash.
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, headers=headers, media_type=asset.content_type)


def asset_route() -> Route:
    return Route(ASSET_PREFIX + "/{name}", serve_asset, methods=["GET"])


__all__ = ["AssetError", "asset_route", "assets", "graphiql_page", "page_html"]

"""How `switchboard serve` ships the built frontend, over HTTP against `make run`'s set-up: the
page at / and at the app's own paths, with the demo token for the sign-in step and a strict
Content-Security-Policy, never cached; its hashed assets cached for good; nothing else served
from the package folder."""

from __future__ import annotations

import re

import httpx
import pytest

TOKEN_META = re.compile(r'<meta name="switchboard-demo-token" content="([^"]+)">')
VIEWER = "{ viewer { user { email } } }"


@pytest.fixture
def served(app_server: tuple[str, str]) -> str:
    return app_server[0]


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def test_the_page_carries_a_demo_token_that_signs_in(served: str) -> None:
    page = httpx.get(f"{served}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<div id="root"></div>' in page.text
    [token] = TOKEN_META.findall(page.text)
    viewer = httpx.post(
        f"{served}/graphql",
        json={"query": VIEWER},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert viewer == {"data": {"viewer": {"user": {"email": "alice@demo.switchboard.test"}}}}


def test_the_page_is_never_cached_and_runs_only_this_origins_code(served: str) -> None:
    page = httpx.get(f"{served}/", timeout=10)
    host = served.removeprefix("http://")
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text, "no inline script: the policy would refuse it"


def test_a_host_header_that_is_not_one_stays_out_of_the_policy(served: str) -> None:
    page = httpx.get(f"{served}/", headers={"Host": "x; script-src *"}, timeout=10)
    assert page.status_code == 200
    policy = directives(page.headers["content-security-policy"])
    assert policy["connect-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]


def test_the_apps_own_paths_give_the_same_page(served: str) -> None:
    home = httpx.get(f"{served}/", timeout=10)
    deep = httpx.get(f"{served}/conversations/Q29udmVyc2F0aW9uOjE=", timeout=10)
    assert deep.status_code == 200
    assert TOKEN_META.sub("", deep.text) == TOKEN_META.sub("", home.text)
    assert httpx.get(f"{served}/not-a-page", timeout=10).status_code == 404
    assert httpx.post(f"{served}/", timeout=10).status_code == 405


def test_hashed_assets_are_cached_for_good_and_revalidate(served: str) -> None:
    page = httpx.get(f"{served}/", timeout=10).text
    [script] = re.findall(r'src="(/assets/[^"]+\.js)"', page)
    [style] = re.findall(r'href="(/assets/[^"]+\.css)"', page)
    answered = httpx.get(served + script, timeout=10)
    assert answered.status_code == 200
    assert answered.headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )
    assert answered.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert answered.headers["x-content-type-options"] == "nosniff"
    again = httpx.get(
        served + script, headers={"If-None-Match": answered.headers["etag"]}, timeout=10
    )
    assert again.status_code == 304
    css = httpx.get(served + style, timeout=10)
    assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/assets/missing-0000.js",
        "/assets/../index.html",
        "/assets/%2e%2e/sources.json",
        "/assets/..%2f..%2fstamp.py",
        "/index.html",
        "/sources.json",
    ],
)
def test_nothing_but_the_assets_is_served_from_the_package(served: str, path: str) -> None:
    answered = httpx.get(served + path, timeout=10)
    assert answered.status_code == 404, (path, answered.text[:200])

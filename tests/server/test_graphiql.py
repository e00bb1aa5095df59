"""GraphiQL served by the server itself: same-origin assets whose integrity attributes match the
shipped files, each served with its content type, a strict Content-Security-Policy, and a Headers
editor that holds a working demo token with the embedded sandbox and none with a real UniPile."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from server.app import create_app
from server.demo import load_demo
from server.graphiql import ASSETS, PLACEHOLDER_HEADERS
from server.graphiql.refresh import OWN_FILES, PACKAGES
from server.settings import Settings
from tests.inbox.conftest import inbox_settings
from tests.processes import free_port
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
SIGNING_KEY = "graphiql-test-signing-key-0123456789abcdef"
SANDBOX_KEY = "graphiql-test-sandbox-key"
TTL_HOURS = 3
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
TOKEN = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
VIEWER = "{ viewer { user { email } } }"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain"}


def sha384(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ASSETS / "manifest.json").read_text(encoding="utf-8"))
    return loaded


@dataclass
class Tag:
    name: str
    attributes: dict[str, str | None]
    text: str = ""


class Tags(HTMLParser):
    """Every element's tag and attributes, and the text of <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[Tag] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(Tag(tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1].name == "script":
            self.tags[-1].text += data


def parse(page: str) -> list[Tag]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def page_config(page: str) -> dict[str, Any]:
    [block] = [
        tag
        for tag in parse(page)
        if tag.name == "script" and tag.attributes.get("type") == "application/json"
    ]
    config: dict[str, Any] = json.loads(block.text)
    return config


async def get_page(url: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.get("/graphql", headers=BROWSER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response


async def post(url: str, query: str, headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def embedded_settings(database: str, data_dir: Path, sandbox_port: int) -> Settings:
    """`make run`'s mode: no UNIPILE_DSN, the sandbox on SANDBOX_PORT."""
    return Settings.from_environ(
        {
            "DATABASE_URL": database,
            "DATA_DIR": str(data_dir),
            "JWT_SECRET": SIGNING_KEY,
            "TOKEN_TTL_HOURS": str(TTL_HOURS),
            "SANDBOX_PORT": str(sandbox_port),
            # Nothing listens there: these tests post no message, so no webhook is delivered.
            "PUBLIC_URL": f"http://127.0.0.1:{free_port()}",
        },
        env_file=None,
    )


@pytest.fixture
def embedded(database: str, tmp_path: Path) -> Iterator[str]:
    """The server in embedded mode, over a sandbox holding the key it reads from DATA_DIR."""
    (tmp_path / "sandbox.secret").write_text(SANDBOX_KEY, encoding="utf-8")
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as sandbox:
        port = httpx.URL(sandbox).port
        assert port is not None
        settings = embedded_settings(database, tmp_path, port)
        assert settings.uses_sandbox
        with running_app(create_app(settings)) as url:
            yield url


@pytest.fixture
async def seeded_embedded(database: str, embedded: str) -> AsyncIterator[str]:
    await load_demo(7)
    yield embedded


@pytest.fixture
def production(database: str, tmp_path: Path, sandbox_url: str) -> Iterator[str]:
    settings = inbox_settings(database, tmp_path, sandbox_url)
    assert not settings.uses_sandbox
    with running_app(create_app(settings)) as url:
        yield url


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings(api_key="test-sandbox-key")) as url:
        yield url


# -- the shipped files ------------------------------------------------------------------------


def test_the_manifest_lists_every_shipped_file_with_its_sha384() -> None:
    files = manifest()["files"]
    shipped = {path.name for path in ASSETS.iterdir()} - {"manifest.json"}
    assert set(files) == shipped
    for name, entry in files.items():
        assert entry["sha384"] == sha384((ASSETS / name).read_bytes()), (
            f"{name} changed: run `make graphiql-assets`"
        )


def test_the_vendored_files_are_the_pinned_versions() -> None:
    recorded = manifest()
    pinned = {f"{package.name}@{package.version}" for package in PACKAGES}
    assert set(recorded["packages"]) == pinned
    assert all(integrity.startswith("sha512-") for integrity in recorded["packages"].values())
    for package in PACKAGES:
        for name, inside in package.files.items():
            entry = recorded["files"][name]
            assert (entry["package"], entry["source"]) == (
                f"{package.name}@{package.version}",
                inside,
            )
    assert {name for name, entry in recorded["files"].items() if entry["package"] is None} == set(
        OWN_FILES
    )
    # The bundle names its own version: the file is the one pinned.
    [graphiql] = [package for package in PACKAGES if package.name == "graphiql"]
    assert graphiql.version.startswith("4.")
    react = (ASSETS / "react.production.min.js").read_text(encoding="utf-8")
    assert 'version="18.3.1"' in react


def test_the_package_includes_the_assets() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["server.graphiql"]
    for path in ASSETS.iterdir():
        relative = path.relative_to(ASSETS.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


# -- the page and its assets, served -----------------------------------------------------------


async def test_the_page_loads_only_same_origin_assets_with_matching_integrity(
    seeded_embedded: str,
) -> None:
    response = await get_page(seeded_embedded)
    tags = parse(response.text)
    files = manifest()["files"]
    loaded: list[tuple[str, str | None]] = []
    for tag in tags:
        if tag.name == "script" and tag.attributes.get("type") != "application/json":
            assert not tag.text.strip(), "no inline script runs"
            loaded.append((tag.attributes["src"] or "", tag.attributes.get("integrity")))
        elif tag.name == "link" and tag.attributes.get("rel") == "stylesheet":
            loaded.append((tag.attributes["href"] or "", tag.attributes.get("integrity")))
        elif tag.name == "link":
            assert (tag.attributes.get("href") or "").startswith("data:"), tag
        assert not any(
            (value or "").startswith(("http:", "https:", "//")) for value in tag.attributes.values()
        ), tag
    assert len(loaded) == 6
    async with httpx.AsyncClient(base_url=seeded_embedded, timeout=30) as client:
        for url, integrity in loaded:
            assert url.startswith("/graphiql/"), url
            name = url.removeprefix("/graphiql/")
            served = await client.get(url)
            assert served.status_code == 200
            shipped = (ASSETS / name).read_bytes()
            assert served.content == shipped
            assert integrity == files[name]["sha384"] == sha384(shipped)
    assert "http://" not in response.text and "https://" not in response.text


async def test_the_page_has_a_strict_content_security_policy(seeded_embedded: str) -> None:
    response = await get_page(seeded_embedded)
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["content-security-policy"].split(";")
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    for sources in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} & set(sources)
        assert all(source in ("'self'", "'none'", "data:") for source in sources), sources
    # The page holds a token: no cache keeps it.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_file_of_the_manifest_is_served_with_its_content_type(
    seeded_embedded: str,
) -> None:
    files = manifest()["files"]
    async with httpx.AsyncClient(base_url=seeded_embedded, timeout=30) as client:
        for name, entry in files.items():
            response = await client.get(f"/graphiql/{name}")
            assert response.status_code == 200, name
            media_type = response.headers["content-type"].split(";")[0]
            assert media_type == CONTENT_TYPES[Path(name).suffix], name
            assert response.headers["content-type"] == entry["content_type"]
            assert response.headers["x-content-type-options"] == "nosniff"
            assert sha384(response.content) == entry["sha384"]
            again = await client.get(
                f"/graphiql/{name}", headers={"If-None-Match": response.headers["etag"]}
            )
            assert again.status_code == 304 and not again.content
        for other in ("manifest.json", "refresh.py", "__init__.py", "graphiql.min.js.map", "x"):
            assert (await client.get(f"/graphiql/{other}")).status_code == 404, other
        assert (await client.get("/graphiql/../refresh.py")).status_code == 404


async def test_a_graphql_client_still_gets_json_from_get(seeded_embedded: str) -> None:
    async with httpx.AsyncClient(base_url=seeded_embedded, timeout=30) as client:
        response = await client.get(
            "/graphql", params={"query": VIEWER}, headers={"Accept": "application/json"}
        )
    assert response.headers["content-type"].startswith("application/json")


# -- the Headers editor ------------------------------------------------------------------------


async def test_the_embedded_mode_fills_the_header_with_a_working_demo_token(
    seeded_embedded: str,
) -> None:
    first = page_config((await get_page(seeded_embedded)).text)
    headers = json.loads(first["headers"])
    assert list(headers) == ["Authorization"]
    result = await post(seeded_embedded, VIEWER, headers)
    assert "errors" not in result, result
    assert result["data"]["viewer"]["user"]["email"] == "alice@demo.switchboard.test"
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == TTL_HOURS * 3600
    # Minted for each page, not printed once.
    second = page_config((await get_page(seeded_embedded)).text)
    assert json.loads(second["headers"])["Authorization"].startswith("Bearer ey")
    assert first["endpoint"] == "/graphql" and "query Inbox" in first["query"]


async def test_the_embedded_mode_before_the_demo_is_loaded_shows_where_the_token_goes(
    embedded: str,
) -> None:
    response = await get_page(embedded)
    assert page_config(response.text)["headers"] == PLACEHOLDER_HEADERS
    assert not TOKEN.search(response.text)


async def test_production_mode_shows_a_placeholder_and_no_token(
    database: str, production: str
) -> None:
    await load_demo(7)
    response = await get_page(production)
    config = page_config(response.text)
    assert config["headers"] == PLACEHOLDER_HEADERS == '{"Authorization": "Bearer <token>"}'
    assert not TOKEN.search(response.text)
    assert "Bearer ey" not in response.text
    result = await post(production, VIEWER, json.loads(config["headers"]))
    assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

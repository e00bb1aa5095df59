"""A served Switchboard that trusts a CRM, the CRM's keys, and the CRM's JWKS over real HTTP.

The CRM's tokens are signed here as a CRM backend would sign them: with a shared secret (HS256),
or with RSA and P-256 private keys whose public halves Switchboard reads from a PEM file or from
a JWKS served by a small Starlette app under uvicorn. Every HTTP request to the served app counts
its database queries, authentication included (`Served.query_counts`).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from db.metrics import count_queries
from server.app import create_app
from tests.inbox.conftest import inbox_settings
from unipile.sandbox.testing import running_app

ISSUER = "https://crm.switchboard.test"
AUDIENCE = "switchboard-api"
SECRET = "crm-shared-secret-0123456789abcdefghij"
# Nothing listens there: no test here reaches UniPile.
UNUSED_UNIPILE = "http://127.0.0.1:9"
VIEWER = "{ viewer { user { id email name } workspace { id name slug } } }"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CrmKeys:
    rsa: rsa.RSAPrivateKey
    rsa_next: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    stranger: rsa.RSAPrivateKey
    """A key the CRM does not have: what a forger signs with."""
    pem: Path
    """The PEM file of `rsa`'s public key."""


@pytest.fixture(scope="session")
def crm_keys(tmp_path_factory: pytest.TempPathFactory) -> CrmKeys:
    def rsa_key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    main = rsa_key()
    pem = tmp_path_factory.mktemp("crm") / "crm-public.pem"
    pem.write_bytes(public_pem(main))
    return CrmKeys(main, rsa_key(), ec.generate_private_key(ec.SECP256R1()), rsa_key(), pem)


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwk(key: PrivateKey, kid: str) -> dict[str, Any]:
    """The public JWK of `key`, as a CRM's JWKS lists it."""
    if isinstance(key, rsa.RSAPrivateKey):
        entry = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        algorithm = "RS256"
    else:
        entry = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        algorithm = "ES256"
    return {**entry, "kid": kid, "alg": algorithm, "use": "sig"}


# -- tokens ---------------------------------------------------------------------------------


def crm_claims(**changes: Any) -> dict[str, Any]:
    """A CRM token's payload: a member of workspace `crm-ws-1`; a `None` change drops a claim."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "crm-user-1",
        "email": "ada@acme.test",
        "name": "Ada Lovelace",
        "workspace_id": "crm-ws-1",
        "workspace_name": "Acme Inc.",
        "role": "member",
        "iat": datetime.now(UTC),
        "exp": datetime.now(UTC) + timedelta(minutes=10),
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def hs256_token(secret: str = SECRET, **changes: Any) -> str:
    return jwt.encode(crm_claims(**changes), secret, algorithm="HS256")


def signed_token(key: PrivateKey, kid: str | None = None, **changes: Any) -> str:
    """RS256 for an RSA key, ES256 for a P-256 key; with a `kid` header if given."""
    algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(crm_claims(**changes), key, algorithm=algorithm, headers=headers)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_input(header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    def part(value: Mapping[str, Any]) -> str:
        return b64url(json.dumps(value, default=lambda d: int(d.timestamp())).encode())

    return f"{part(header)}.{part(payload)}"


# -- the CRM's JWKS -------------------------------------------------------------------------


@dataclass
class JwksEndpoint:
    """The JWKS the CRM serves: its keys, its status (503: down), and how often it was read."""

    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, *keys: dict[str, Any]) -> None:
        self.keys, self.status = list(keys), 200

    def count(self) -> None:
        with self._lock:
            self.hits += 1


@pytest.fixture(scope="session")
def jwks_endpoint() -> Iterator[JwksEndpoint]:
    endpoint = JwksEndpoint(url="")

    async def jwks(request: Request) -> Response:
        endpoint.count()
        if endpoint.status != 200:
            return Response("unavailable", status_code=endpoint.status)
        return JSONResponse({"keys": endpoint.keys})

    with running_app(Starlette(routes=[Route("/.well-known/jwks.json", jwks)])) as url:
        endpoint.url = f"{url}/.well-known/jwks.json"
        yield endpoint


@pytest.fixture
def jwks(jwks_endpoint: JwksEndpoint) -> JwksEndpoint:
    jwks_endpoint.serve()
    jwks_endpoint.hits = 0
    return jwks_endpoint


# -- the served app -------------------------------------------------------------------------


class CountingQueries:
    """Counts the database queries of each HTTP request, from its first byte to its last."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.counts: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with count_queries() as counter:
            await self.app(scope, receive, send)
        self.counts.append(counter.value)


@dataclass(frozen=True)
class Served:
    url: str
    counting: CountingQueries

    @property
    def query_counts(self) -> list[int]:
        return self.counting.counts

    async def post(
        self, query: str, token: str | None, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def viewer(self, token: str) -> dict[str, Any]:
        """The viewer a token is accepted as (the test fails if it is refused)."""
        result = await self.post(VIEWER, token)
        assert "errors" not in result, result
        viewer: dict[str, Any] = result["data"]["viewer"]
        return viewer

    async def refusal(self, token: str) -> str:
        """Why the token is refused: the UNAUTHENTICATED message (the test fails if it is not)."""
        result = await self.post(VIEWER, token)
        errors = result.get("errors") or []
        assert result.get("data") is None, result
        assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"], result
        message: str = errors[0]["message"]
        return message


def crm_environment(kind: str, keys: CrmKeys, jwks: JwksEndpoint) -> dict[str, str]:
    """The CRM_JWT_* variables of a CRM signing with its shared secret (`secret`), the RSA key
    of the PEM file (`pem`, HS256 listed too, to show it has no key), or its JWKS (`jwks`)."""
    if kind == "secret":
        return {"CRM_JWT_ISSUER": ISSUER, "CRM_JWT_AUDIENCE": AUDIENCE, "CRM_JWT_SECRET": SECRET}
    if kind == "pem":
        return {
            "CRM_JWT_ISSUER": ISSUER,
            "CRM_JWT_PUBLIC_KEY_FILE": str(keys.pem),
            "CRM_JWT_ALGORITHMS": "HS256,RS256,ES256",
        }
    assert kind == "jwks", kind
    return {"CRM_JWT_ISSUER": ISSUER, "CRM_JWKS_URL": jwks.url}


Serve = Callable[[str], AbstractContextManager[Served]]


@pytest.fixture
def serve(database: str, tmp_path: Path, crm_keys: CrmKeys, jwks: JwksEndpoint) -> Serve:
    """`with serve(kind) as served:` the app, trusting the CRM as `crm_environment` says."""

    @contextmanager
    def served(kind: str) -> Iterator[Served]:
        extra = crm_environment(kind, crm_keys, jwks)
        settings = inbox_settings(database, tmp_path, UNUSED_UNIPILE, extra)
        counting = CountingQueries(create_app(settings))
        with running_app(counting) as url:
            yield Served(url, counting)

    return served


def new_kid() -> str:
    return f"kid-{uuid.uuid4().hex[:12]}"

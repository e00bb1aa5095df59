"""Tokens the CRM mints for its users: verified with the CRM's keys, read into `CrmClaims`.

The CRM signs with a secret it shares with Switchboard (HS256) or with a private key whose public
half Switchboard holds in a PEM file or fetches from the CRM's JWKS (RS256, ES256). A token is
verified only with the one key its algorithm calls for: an HS256 token with the secret, an RS256
token with an RSA key, an ES256 token with a P-256 key. So a token "signed" with the public key
as an HMAC secret, or one with `alg: none`, has no key to pass with.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.exceptions import InvalidSubjectError

from access.tokens import TokenRefused
from core.vocabulary import Role
from crm import Rejected, normalize_email

log = logging.getLogger(__name__)

HS256 = "HS256"
# Clocks of the CRM and of Switchboard may differ by this much (`exp`, `nbf`, `iat`).
LEEWAY_SECONDS = 30
# The widths of the columns the claims are written to (`db.models`).
MAX_EXTERNAL_ID = 255
MAX_NAME = 200
# A kid the cache lacks fetches the JWKS again, at most this often, so that tokens with made-up
# kids cannot make Switchboard hammer the CRM.
JWKS_REFRESH_SECONDS = 10.0
# Keys held longer than this are fetched again on the next token, so a key the CRM removed from
# its JWKS stops being accepted.
JWKS_MAX_AGE_SECONDS = 300.0
MAX_JWKS_BYTES = 1_048_576
JWKS_TIMEOUT = httpx.Timeout(connect=3.0, read=5.0, write=5.0, pool=3.0)
# The algorithm each kind of JWK verifies, and the curve an EC key must be on.
JWK_ALGORITHMS = {"RSA": "RS256", "EC": "ES256"}
ES256_CURVE = "P-256"
# The HS256 secret, or a public key.
VerifyingKey = str | RSAPublicKey | EllipticCurvePublicKey


class CrmTokenConfig(Protocol):
    """How the CRM's tokens are verified and read (`server.settings.CrmTokenSettings`)."""

    @property
    def issuer(self) -> str | None: ...
    @property
    def audience(self) -> str | None: ...
    @property
    def secret(self) -> str | None: ...
    @property
    def public_key_file(self) -> Path | None: ...
    @property
    def jwks_url(self) -> str | None: ...
    @property
    def algorithms(self) -> tuple[str, ...]: ...
    @property
    def user_claim(self) -> str: ...
    @property
    def email_claim(self) -> str: ...
    @property
    def name_claim(self) -> str: ...
    @property
    def workspace_claim(self) -> str: ...
    @property
    def workspace_name_claim(self) -> str: ...
    @property
    def role_claim(self) -> str: ...


@dataclass(frozen=True, slots=True)
class CrmClaims:
    """What a verified CRM token says about its user, validated and normalised. `name`,
    `workspace_name` and `role` are None when the token does not carry them."""

    workspace_external_id: str
    workspace_name: str | None
    user_external_id: str
    email: str
    name: str | None
    role: Role | None
    # When the CRM minted the token (`iat`): an older token never overrides what a newer one set.
    # Not part of the claims' identity, so one user's successive tokens share a cache entry.
    issued_at: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key of the CRM and the one algorithm it verifies."""

    algorithm: str
    key: RSAPublicKey | EllipticCurvePublicKey


class CrmTokenSetupError(ValueError):
    """The CRM token settings name a key Switchboard cannot use; `variable` names the setting."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class JwksUnavailable(Exception):
    """The JWKS could not be fetched or held no usable key."""


# -- claims ---------------------------------------------------------------------------------


def read_claims(payload: Mapping[str, Any], config: CrmTokenConfig) -> CrmClaims:
    return CrmClaims(
        workspace_external_id=_external_id(payload, config.workspace_claim),
        workspace_name=_optional_text(payload, config.workspace_name_claim),
        user_external_id=_external_id(payload, config.user_claim),
        email=_email(payload, config.email_claim),
        name=_optional_text(payload, config.name_claim),
        role=_role(payload, config.role_claim),
        issued_at=_issued_at(payload),
    )


def _issued_at(payload: Mapping[str, Any]) -> datetime | None:
    """`iat`, which PyJWT has checked to be a number when present."""
    issued = payload.get("iat")
    return None if issued is None else datetime.fromtimestamp(int(issued), UTC)


def _external_id(payload: Mapping[str, Any], claim: str) -> str:
    value = payload.get(claim)
    if value is None:
        raise TokenRefused(f"the token lacks the {claim!r} claim")
    # CRMs often number their records: 42 and "42" name the same one.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TokenRefused(f"the token's {claim!r} claim must be a string")
    if not value.strip():
        raise TokenRefused(f"the token's {claim!r} claim is empty")
    return _bounded(value, claim, MAX_EXTERNAL_ID)


def _optional_text(payload: Mapping[str, Any], claim: str) -> str | None:
    value = payload.get(claim)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TokenRefused(f"the token's {claim!r} claim must be a string")
    return _bounded(value.strip(), claim, MAX_NAME) or None


def _bounded(value: str, claim: str, maximum: int) -> str:
    if len(value) > maximum:
        raise TokenRefused(f"the token's {claim!r} claim is longer than {maximum} characters")
    if not value.isprintable():
        raise TokenRefused(f"the token's {claim!r} claim holds control characters")
    return value


def _email(payload: Mapping[str, Any], claim: str) -> str:
    value = payload.get(claim)
    if value is None:
        raise TokenRefused(f"the token lacks the {claim!r} claim")
    if not isinstance(value, str):
        raise TokenRefused(f"the token's {claim!r} claim must be a string")
    address = normalize_email(value)
    if isinstance(address, Rejected):
        raise TokenRefused(f"the token's {claim!r} claim is not a usable email address")
    return address


def _role(payload: Mapping[str, Any], claim: str) -> Role | None:
    value = payload.get(claim)
    if value is None:
        return None
    # ASCII only: `str.upper` maps look-alikes (a dotless i, U+0131, in "admin") onto "ADMIN".
    if isinstance(value, str) and value.isascii() and value.upper() in Role.__members__:
        return Role(value.upper())
    raise TokenRefused(f"the token's {claim!r} claim must be 'admin' or 'member'")


# -- keys -----------------------------------------------------------------------------------


def public_key_from_pem(data: bytes) -> PublicKey:
    """The RSA (RS256) or P-256 (ES256) public key of a PEM file."""
    key = serialization.load_pem_public_key(data)
    if isinstance(key, RSAPublicKey):
        return PublicKey("RS256", key)
    if isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1):
        return PublicKey("ES256", key)
    raise ValueError("the CRM's public key must be an RSA key or an EC key on P-256")


def public_key_from_jwk(entry: Mapping[str, Any]) -> PublicKey | None:
    """The signing key of a JWKS entry; None for any entry this verifier does not use (another
    kind or curve, an encryption key, private or symmetric material)."""
    algorithm = JWK_ALGORITHMS.get(str(entry.get("kty")))
    if (
        algorithm is None
        or entry.get("use", "sig") != "sig"
        or entry.get("alg", algorithm) != algorithm
        or (algorithm == "ES256" and entry.get("crv") != ES256_CURVE)
        or "d" in entry
    ):
        return None
    try:
        key = jwt.PyJWK(dict(entry), algorithm=algorithm).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if isinstance(key, RSAPublicKey | EllipticCurvePublicKey):
        return PublicKey(algorithm, key)
    return None


def keys_of_jwks(body: bytes) -> dict[str, PublicKey]:
    """The usable keys of a JWKS document, by kid."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise JwksUnavailable("the JWKS is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksUnavailable("the JWKS has no 'keys' list")
    keys = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, dict) else None
        key = public_key_from_jwk(entry) if isinstance(kid, str) else None
        if isinstance(kid, str) and key is not None:
            keys[kid] = key
    if not keys:
        raise JwksUnavailable("the JWKS holds no RS256 or ES256 signing key with a kid")
    return keys


class Jwks:
    """The CRM's JWKS, fetched when first needed and kept, fetched again for a kid it lacks (at
    most once per `refresh_seconds`, concurrent tokens sharing one fetch) and when older than
    `max_age_seconds`. While the endpoint fails, the last keys it gave stay in use."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        refresh_seconds: float,
        max_age_seconds: float,
    ) -> None:
        self.url = url
        self._http = http
        self._refresh_seconds = refresh_seconds
        self._max_age_seconds = max_age_seconds
        self._keys: dict[str, PublicKey] = {}
        self._lock = asyncio.Lock()
        self._attempts = 0
        self._attempted_at: float | None = None
        self._loaded_at: float | None = None
        self._problem: str | None = None

    async def key(self, kid: str) -> PublicKey:
        if kid not in self._keys or self._stale():
            await self._refresh()
        found = self._keys.get(kid)
        if found is not None:
            return found
        shown = kid[:64]
        if self._problem is not None:
            raise TokenRefused(
                f"the CRM's JWKS could not be fetched ({self._problem}), and the token's key "
                f"{shown!r} is not among the keys held"
            )
        raise TokenRefused(f"the token's key {shown!r} is not in the CRM's JWKS")

    def _stale(self) -> bool:
        return (
            self._loaded_at is not None
            and time.monotonic() - self._loaded_at > self._max_age_seconds
        )

    def _may_fetch(self) -> bool:
        return (
            self._attempted_at is None
            or time.monotonic() - self._attempted_at >= self._refresh_seconds
        )

    async def _refresh(self) -> None:
        attempts = self._attempts
        async with self._lock:
            # Tokens that waited for another's fetch use its result.
            if self._attempts != attempts or not self._may_fetch():
                return
            try:
                self._keys = await self._fetch()
                self._loaded_at = time.monotonic()
                self._problem = None
            except JwksUnavailable as problem:
                self._problem = str(problem)
                log.warning("CRM JWKS at %s: %s", self.url, problem)
            finally:
                self._attempts += 1
                self._attempted_at = time.monotonic()

    async def _fetch(self) -> dict[str, PublicKey]:
        try:
            async with self._http.stream(
                "GET", self.url, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code != 200:
                    raise JwksUnavailable(f"HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksUnavailable(f"the JWKS is over {MAX_JWKS_BYTES} bytes")
        except httpx.HTTPError as error:
            raise JwksUnavailable(f"{type(error).__name__} from {self.url}") from None
        return keys_of_jwks(bytes(body))


# -- verification ---------------------------------------------------------------------------


class CrmTokenVerifier:
    """Verifies the CRM's tokens and reads their claims."""

    def __init__(
        self,
        config: CrmTokenConfig,
        issuer: str,
        public_key: PublicKey | None,
        jwks: Jwks | None,
        http: httpx.AsyncClient | None,
    ) -> None:
        self.config = config
        self.issuer = issuer
        self._public_key = public_key
        self._jwks = jwks
        self._http = http

    @classmethod
    def from_config(cls, config: CrmTokenConfig) -> CrmTokenVerifier | None:
        """The verifier `config` describes, its PEM file read; None when the CRM's tokens are
        not accepted. Its HTTP client (for the JWKS) is closed by `aclose`."""
        if config.issuer is None:
            return None
        public_key = None
        if config.public_key_file is not None:
            public_key = _read_public_key(config.public_key_file)
        http = jwks = None
        if config.jwks_url is not None:
            http = httpx.AsyncClient(timeout=JWKS_TIMEOUT, follow_redirects=False)
            jwks = Jwks(config.jwks_url, http, JWKS_REFRESH_SECONDS, JWKS_MAX_AGE_SECONDS)
        return cls(config, config.issuer, public_key, jwks, http)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def verify(self, token: str) -> CrmClaims:
        header = _header(token)
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.config.algorithms:
            raise TokenRefused(f"the token's algorithm {str(algorithm)[:16]!r} is not accepted")
        # PyJWT has checked that a kid, if any, is a string.
        key = await self._key(algorithm, header.get("kid"))
        return read_claims(self._decode(token, algorithm, key), self.config)

    async def _key(self, algorithm: str, kid: str | None) -> VerifyingKey:
        """The one key `algorithm` may be verified with."""
        if algorithm == HS256:
            if self.config.secret is None:
                raise TokenRefused("the token's algorithm 'HS256' is not accepted")
            return self.config.secret
        if kid is not None and self._jwks is not None:
            public_key = await self._jwks.key(kid)
        elif self._public_key is not None:
            public_key = self._public_key
        else:
            raise TokenRefused("the token names no key: its header needs a kid")
        if public_key.algorithm != algorithm:
            raise TokenRefused(f"the token's key does not verify {algorithm}")
        return public_key.key

    def _decode(self, token: str, algorithm: str, key: VerifyingKey) -> dict[str, Any]:
        audience = self.config.audience
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self.issuer,
                audience=audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss"], "verify_aud": audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenRefused(f"the token lacks the {error.claim!r} claim") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("the token's audience is not accepted") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("the token's issuer is not accepted") from None
        except InvalidSubjectError:
            raise TokenRefused("the token's 'sub' claim must be a string") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature is not valid") from None
        except jwt.InvalidTokenError:
            raise TokenRefused("the token is not valid") from None
        return payload


def _read_public_key(path: Path) -> PublicKey:
    try:
        return public_key_from_pem(path.read_bytes())
    except (OSError, ValueError, UnsupportedAlgorithm) as error:
        raise CrmTokenSetupError("CRM_JWT_PUBLIC_KEY_FILE", f"{path}: {error}") from None


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenRefused("the token is not valid") from None


def unverified_issuer(token: str) -> str | None:
    """The `iss` a token claims, unverified: which key to verify it with."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None

"""The pieces under the served tests: which keys a JWKS or PEM file gives, the set-up errors a
bad key file gives, the identity cache's bounds, and workspace slugs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from access.authentication import Authenticator
from access.crm_tokens import (
    CrmClaims,
    CrmTokenSetupError,
    JwksUnavailable,
    keys_of_jwks,
    public_key_from_jwk,
    public_key_from_pem,
)
from access.provisioning import MAX_SLUG, IdentityCache, slug_of
from core.identity import Identity
from server.app import build_authenticator
from server.settings import CrmTokenSettings, Settings, SettingsError
from tests.access.conftest import ISSUER, CrmKeys, b64url, jwk, public_pem


def test_rsa_and_p256_keys_are_read_with_the_one_algorithm_each_verifies(
    crm_keys: CrmKeys,
) -> None:
    rsa_key = public_key_from_jwk(jwk(crm_keys.rsa, "r"))
    ec_key = public_key_from_jwk(jwk(crm_keys.ec, "e"))
    assert rsa_key is not None and rsa_key.algorithm == "RS256"
    assert ec_key is not None and ec_key.algorithm == "ES256"
    assert public_key_from_pem(crm_keys.pem.read_bytes()).algorithm == "RS256"
    assert public_key_from_pem(public_pem(crm_keys.ec)).algorithm == "ES256"


def test_jwks_entries_that_must_not_verify_tokens_are_skipped(crm_keys: CrmKeys) -> None:
    good = jwk(crm_keys.rsa, "r")
    p384 = jwk(ec.generate_private_key(ec.SECP384R1()), "p384")
    unusable = [
        {"kty": "oct", "k": b64url(b"a shared secret must never be published"), "kid": "o"},
        {**good, "use": "enc"},
        {**good, "alg": "HS256"},
        {**good, "alg": "RS512"},
        {**good, "d": "private material"},
        {**good, "n": "not base64 !"},
        {key: value for key, value in p384.items() if key != "alg"},
        {"kty": "OKP", "crv": "Ed25519", "x": b64url(b"x" * 32), "kid": "ed"},
    ]
    assert [public_key_from_jwk(entry) for entry in unusable] == [None] * len(unusable)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"keys": {}}', "no 'keys' list"),
        (b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "o"}, 5]}', "no RS256 or ES256"),
    ],
)
def test_a_jwks_without_usable_keys_is_unavailable(body: bytes, problem: str) -> None:
    with pytest.raises(JwksUnavailable, match=problem):
        keys_of_jwks(body)


def test_jwks_keys_are_found_by_kid_and_keys_without_one_are_left_out(crm_keys: CrmKeys) -> None:
    without_kid = {k: v for k, v in jwk(crm_keys.ec, "x").items() if k != "kid"}
    body = json.dumps({"keys": [jwk(crm_keys.rsa, "r"), without_kid]}).encode()
    assert set(keys_of_jwks(body)) == {"r"}


def test_a_key_file_switchboard_cannot_use_stops_the_start(tmp_path: Path) -> None:
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    settings = Settings.from_environ(
        {
            "DATA_DIR": str(tmp_path),
            "CRM_JWT_ISSUER": ISSUER,
            "CRM_JWT_PUBLIC_KEY_FILE": str(not_a_key),
        },
        env_file=None,
    )
    with pytest.raises(SettingsError) as refused:
        build_authenticator(settings)
    assert refused.value.variable == "CRM_JWT_PUBLIC_KEY_FILE"


def test_the_crm_cannot_take_switchboards_own_issuer() -> None:
    config = CrmTokenSettings(issuer="switchboard", secret="s" * 40, algorithms=("HS256",))
    with pytest.raises(CrmTokenSetupError, match="CRM_JWT_ISSUER"):
        Authenticator.from_config("k" * 40, config)


def claims(n: int) -> CrmClaims:
    return CrmClaims("ws", None, f"user-{n}", f"u{n}@acme.test", None, None)


def test_the_identity_cache_drops_the_least_recently_used_and_the_old() -> None:
    cache = IdentityCache(size=2, seconds=60)
    for n in range(3):
        if n == 2:
            assert cache.get(claims(0)) == Identity(0, 1)
        cache.put(claims(n), Identity(n, 1))
    assert [cache.get(claims(n)) for n in range(3)] == [Identity(0, 1), None, Identity(2, 1)]
    brief = IdentityCache(size=2, seconds=0.05)
    brief.put(claims(0), Identity(0, 1))
    time.sleep(0.06)
    assert brief.get(claims(0)) is None


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Europe (Ltd.)", "acme-europe-ltd"),
        ("Bücher GmbH", "bucher-gmbh"),
        ("日本の会社", "workspace"),
        ("---", "workspace"),
        ("a" * 300, "a" * (MAX_SLUG - 7)),
        ("ab " * 100, ("ab-" * 100)[: MAX_SLUG - 7].strip("-")),
    ],
)
def test_slugs(name: str, slug: str) -> None:
    assert slug_of(name) == slug

"""The CRM's tokens, verified by the served app: with the shared secret, the PEM file or the
JWKS; refused when forged, misaddressed, expired, unsigned or confused; over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import websockets

from access import crm_tokens
from db.models import User, Workspace
from tests.access.conftest import (
    SECRET,
    VIEWER,
    CrmKeys,
    JwksEndpoint,
    Serve,
    Served,
    b64url,
    crm_claims,
    hs256_token,
    jwk,
    new_kid,
    signed_token,
    signing_input,
)
from tests.graphql_ws import LEGACY_WS, TRANSPORT_WS, connect, receive_json, start
from tests.inbox.conftest import SIGNING_KEY

LONG = "x" * 256
AN_HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


def unsigned(header: dict[str, Any], **changes: Any) -> str:
    return f"{signing_input(header, crm_claims(**changes))}."


def hmac_signed(secret: bytes, **changes: Any) -> str:
    """An HS256 token made by hand, keyed by any bytes (PyJWT refuses a PEM as a secret)."""
    message = signing_input({"alg": "HS256", "typ": "JWT"}, crm_claims(**changes))
    signature = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return f"{message}.{b64url(signature)}"


async def refusal_failures(served: Served, cases: list[tuple[str, str, str]]) -> list[str]:
    """The cases whose token was not refused with a message holding their fragment."""
    failures = []
    for name, token, fragment in cases:
        message = await served.refusal(token)
        if fragment not in message:
            failures.append(f"{name}: {message!r} lacks {fragment!r}")
    return failures


async def nothing_provisioned() -> bool:
    return not await Workspace.exists() and not await User.exists()


async def test_a_token_signed_with_the_shared_secret_is_accepted(serve: Serve) -> None:
    with serve("secret") as served:
        viewer = await served.viewer(hs256_token(email="  Ada@ACME.test "))
    assert viewer["user"]["email"] == "ada@acme.test"
    assert viewer["user"]["name"] == "Ada Lovelace"
    assert viewer["workspace"]["name"] == "Acme Inc."


async def test_an_rs256_token_is_checked_with_the_pem_file(serve: Serve, crm_keys: CrmKeys) -> None:
    with serve("pem") as served:
        plain = await served.viewer(signed_token(crm_keys.rsa))
        # A kid means nothing without a JWKS: the PEM file's key is the one.
        with_kid = await served.viewer(signed_token(crm_keys.rsa, kid="any"))
    assert plain == with_kid
    assert plain["user"]["email"] == "ada@acme.test"


async def test_rs256_and_es256_tokens_are_checked_with_the_jwks(
    serve: Serve, crm_keys: CrmKeys, jwks: JwksEndpoint
) -> None:
    jwks.serve(jwk(crm_keys.rsa, "rsa-1"), jwk(crm_keys.ec, "ec-1"))
    with serve("jwks") as served:
        ada = await served.viewer(signed_token(crm_keys.rsa, kid="rsa-1"))
        bob = await served.viewer(
            signed_token(crm_keys.ec, kid="ec-1", sub="crm-user-2", email="bob@acme.test")
        )
        # Each key verifies its own algorithm only, and the JWKS-only CRM needs a kid.
        wrong_kind = await served.refusal(signed_token(crm_keys.rsa, kid="ec-1"))
        no_kid = await served.refusal(signed_token(crm_keys.rsa))
    assert ada["user"]["email"] == "ada@acme.test"
    assert bob["user"]["email"] == "bob@acme.test"
    assert ada["workspace"] == bob["workspace"]
    assert "does not verify RS256" in wrong_kind
    assert "needs a kid" in no_kid
    assert jwks.hits == 1, "both keys came from one fetch"


async def test_a_new_kid_is_accepted_once_the_jwks_is_fetched_again(
    serve: Serve, crm_keys: CrmKeys, jwks: JwksEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm_tokens, "JWKS_REFRESH_SECONDS", 0.2)
    jwks.serve(jwk(crm_keys.rsa, "2026-01"))
    with serve("jwks") as served:
        before = await served.viewer(signed_token(crm_keys.rsa, kid="2026-01"))
        jwks.serve(jwk(crm_keys.rsa_next, "2026-02"))
        await asyncio.sleep(0.3)
        after = await served.viewer(signed_token(crm_keys.rsa_next, kid="2026-02"))
        assert jwks.hits == 2
        # The rotated-out key went with the refetch; a made-up kid is not in the new JWKS.
        retired = await served.refusal(signed_token(crm_keys.rsa, kid="2026-01"))
        await asyncio.sleep(0.3)
        unknown = await served.refusal(signed_token(crm_keys.stranger, kid="2026-03"))
    assert before == after
    assert "'2026-01' is not in the CRM's JWKS" in retired
    assert "'2026-03' is not in the CRM's JWKS" in unknown
    assert jwks.hits == 3


async def test_made_up_kids_fetch_the_jwks_at_most_once_per_interval(
    serve: Serve, crm_keys: CrmKeys, jwks: JwksEndpoint
) -> None:
    jwks.serve(jwk(crm_keys.rsa, "real"))
    with serve("jwks") as served:
        at_once = [signed_token(crm_keys.stranger, kid=new_kid()) for _ in range(10)]
        messages = await asyncio.gather(*(served.refusal(token) for token in at_once))
        for _ in range(10):
            messages.append(await served.refusal(signed_token(crm_keys.stranger, kid=new_kid())))
        real = await served.viewer(signed_token(crm_keys.rsa, kid="real"))
    assert all("is not in the CRM's JWKS" in message for message in messages), messages
    assert real["user"]["email"] == "ada@acme.test"
    assert jwks.hits == 1
    assert await User.all().count() == 1


async def test_a_jwks_that_is_down_refuses_new_keys_and_keeps_the_last_good_ones(
    serve: Serve, crm_keys: CrmKeys, jwks: JwksEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every token finds the keys stale and fetches them again.
    monkeypatch.setattr(crm_tokens, "JWKS_REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(crm_tokens, "JWKS_MAX_AGE_SECONDS", 0.0)
    token = signed_token(crm_keys.rsa, kid="k1")
    with serve("jwks") as served:
        jwks.status = 503
        never_fetched = await served.refusal(token)
        jwks.serve(jwk(crm_keys.rsa, "k1"))
        accepted = await served.viewer(token)
        jwks.status = 503
        hits = jwks.hits
        kept = await served.viewer(token)
        unknown = await served.refusal(signed_token(crm_keys.stranger, kid="k2"))
    assert "the CRM's JWKS could not be fetched (HTTP 503)" in never_fetched
    assert accepted == kept
    assert jwks.hits == hits + 2, "each token tried the endpoint again"
    assert "could not be fetched" in unknown and "'k2'" in unknown


async def test_tokens_a_shared_secret_crm_did_not_sign_as_it_must_are_refused(
    serve: Serve, crm_keys: CrmKeys
) -> None:
    now = datetime.now(UTC)
    cases = [
        ("forged", hs256_token(secret="f" * 40), "signature is not valid"),
        ("signed with Switchboard's key", hs256_token(secret=SIGNING_KEY), "signature"),
        ("another issuer", hs256_token(iss="https://evil.test"), "not valid"),
        ("no issuer", hs256_token(iss=None), "not valid"),
        (
            "Switchboard's own form, signed by the CRM",
            jwt.encode(
                {"iss": "switchboard", "sub": "1", "workspace": 1, "exp": now + timedelta(1)},
                SECRET,
                algorithm="HS256",
            ),
            "not valid",
        ),
        ("another audience", hs256_token(aud="someone-else"), "audience is not accepted"),
        ("no audience", hs256_token(aud=None), "lacks the 'aud' claim"),
        ("expired", hs256_token(exp=now - timedelta(minutes=5)), "expired"),
        ("no expiry", hs256_token(exp=None), "lacks the 'exp' claim"),
        ("not valid yet", hs256_token(nbf=now + timedelta(minutes=10)), "not valid yet"),
        ("alg none", unsigned({"alg": "none", "typ": "JWT"}), "'none' is not accepted"),
        ("RS256 to a secret-only CRM", signed_token(crm_keys.rsa), "'RS256' is not accepted"),
        ("no user", hs256_token(sub=None), "lacks the 'sub' claim"),
        ("no email", hs256_token(email=None), "lacks the 'email' claim"),
        ("no workspace", hs256_token(workspace_id=None), "lacks the 'workspace_id' claim"),
        ("overlong user", hs256_token(sub=LONG), "'sub' claim is longer than 255"),
        ("overlong workspace", hs256_token(workspace_id=LONG), "longer than 255"),
        ("overlong name", hs256_token(name="n" * 201), "'name' claim is longer than 200"),
        ("overlong workspace name", hs256_token(workspace_name="w" * 201), "longer than 200"),
        ("huge email", hs256_token(email="a" * 10_000 + "@acme.test"), "not a usable email"),
        ("not an email", hs256_token(email="ada at acme"), "not a usable email"),
        ("user as a list", hs256_token(sub=["crm-user-1"]), "'sub' claim must be a string"),
        ("user as a boolean", hs256_token(sub=True), "'sub' claim must be a string"),
        ("email as a number", hs256_token(email=42), "'email' claim must be a string"),
        ("name as an object", hs256_token(name={"first": "Ada"}), "'name' claim must be a"),
        ("blank user", hs256_token(sub="   "), "'sub' claim is empty"),
        ("control characters", hs256_token(name="Ada\x00"), "control characters"),
        ("bad role", hs256_token(role="owner"), "'role' claim must be 'admin' or 'member'"),
        ("role as a number", hs256_token(role=1), "'admin' or 'member'"),
        ("role as a look-alike", hs256_token(role="adm\u0131n"), "'admin' or 'member'"),
        ("garbage", "not.a.token", "not valid"),
    ]
    with serve("secret") as served:
        failures = await refusal_failures(served, cases)
    assert not failures, "\n".join(failures)
    assert await nothing_provisioned()


async def test_confused_and_forged_tokens_are_refused_by_a_public_key_crm(
    serve: Serve, crm_keys: CrmKeys
) -> None:
    cases = [
        # The classic confusion: HS256 "signed" with the public key the server verifies with.
        ("HS256 keyed by the public PEM", hmac_signed(crm_keys.pem.read_bytes()), "'HS256'"),
        ("alg none", unsigned({"alg": "none"}), "'none' is not accepted"),
        ("alg None spelled otherwise", unsigned({"alg": "None"}), "is not accepted"),
        ("no alg", unsigned({"typ": "JWT"}), "is not accepted"),
        ("signed by a stranger", signed_token(crm_keys.stranger), "signature is not valid"),
        ("ES256 against an RSA key", signed_token(crm_keys.ec), "does not verify ES256"),
        ("expired", signed_token(crm_keys.rsa, exp=AN_HOUR_AGO), "expired"),
        (
            "a kid that is not a string",
            unsigned({"alg": "RS256", "kid": 7}) + "c2lnbmF0dXJl",
            "not valid",
        ),
    ]
    with serve("pem") as served:
        failures = await refusal_failures(served, cases)
    assert not failures, "\n".join(failures)
    assert await nothing_provisioned()


async def socket_viewer(served: Served, token: str, protocol: str) -> dict[str, Any]:
    async with connect(served.url, token, protocol) as socket:
        await start(socket, protocol, "v", VIEWER)
        message = await receive_json(socket)
    assert message["type"] in ("next", "data"), message
    viewer: dict[str, Any] = message["payload"]["data"]["viewer"]
    return viewer


async def test_crm_tokens_open_websockets_and_refused_ones_close_them(serve: Serve) -> None:
    token = hs256_token()
    with serve("secret") as served:
        over_http = await served.viewer(token)
        modern = await socket_viewer(served, token, TRANSPORT_WS)
        legacy = await socket_viewer(served, token, LEGACY_WS)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            expired = hs256_token(exp=datetime.now(UTC) - timedelta(minutes=5))
            await socket_viewer(served, expired, TRANSPORT_WS)
        with pytest.raises((websockets.ConnectionClosed, ConnectionRefusedError)):
            await socket_viewer(served, hs256_token(role="owner"), LEGACY_WS)
    assert over_http == modern == legacy
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

"""Switchboard's own bearer tokens: HS256 JWTs naming a user and their workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from core.identity import Identity

ALGORITHM = "HS256"
BEARER_PREFIX = "bearer "
# The `iss` of the tokens Switchboard signs, which tells them from the CRM's. Tokens issued
# before it was added carry none and stay valid until they expire.
OWN_ISSUER = "switchboard"
# Far above any real token (a few hundred bytes to a few kilobytes): a longer one is refused
# unread rather than parsed.
MAX_TOKEN_LENGTH = 16_384


class TokenRefused(Exception):
    """The request's credentials are missing, malformed, expired or not ours."""


def issue_token(identity: Identity, key: str, ttl: timedelta, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "iss": OWN_ISSUER,
        "sub": str(identity.user_id),
        "workspace": identity.workspace_id,
        "iat": issued,
        "exp": issued + ttl,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_token(token: str, key: str) -> Identity:
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "workspace"]}
        )
        if claims.get("iss", OWN_ISSUER) != OWN_ISSUER:
            raise TokenRefused("the token's issuer is not accepted")
        return Identity(user_id=int(claims["sub"]), workspace_id=int(claims["workspace"]))
    except jwt.ExpiredSignatureError:
        raise TokenRefused("the token has expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise TokenRefused("the token is not valid") from None


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` value."""
    if not authorization:
        raise TokenRefused("an Authorization: Bearer <token> header is required")
    if not authorization.lower().startswith(BEARER_PREFIX):
        raise TokenRefused("the Authorization header must use the Bearer scheme")
    token = authorization[len(BEARER_PREFIX) :].strip()
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenRefused(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    return token

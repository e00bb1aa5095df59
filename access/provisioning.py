"""Just-in-time provisioning: the workspace and user a CRM token names, made on first sight.

A workspace is found by its `external_id`, a user by their workspace and `external_id`. A user an
operator created beforehand with the token's email, in that workspace and without an external id,
is adopted. Email, name and role follow the claims. Two first requests at once both succeed: the
one whose insert loses to the other's unique constraint reads the winner's row.

Steady state costs no query: the identity of claims seen lately is kept in process, so a request
costs what one with Switchboard's own token does. That is safe because every operation verifies
the user again (`access.scope.load_viewer_scope`): a disabled user is refused at once.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from collections import OrderedDict

from tortoise.exceptions import IntegrityError

from access.crm_tokens import MAX_NAME, CrmClaims
from access.tokens import TokenRefused
from core.identity import Identity
from core.vocabulary import Role
from db.models import User, Workspace

MAX_SLUG = 64
SLUG_SUFFIX_BYTES = 3
SLUG_ATTEMPTS = 5
FALLBACK_SLUG = "workspace"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# How many claim sets the cache holds, and how long: past that, the claims are checked against
# the database again (a user an operator changed or removed is then reconciled).
CACHE_SIZE = 10_000
CACHE_SECONDS = 300.0
# A user whose insert failed on a unique constraint is read again, then given up on.
USER_ATTEMPTS = 2


class IdentityCache:
    """Claims seen lately and the identity they were provisioned as: least recently used first
    out, each kept at most `seconds`."""

    def __init__(self, size: int = CACHE_SIZE, seconds: float = CACHE_SECONDS) -> None:
        self._size = size
        self._seconds = seconds
        self._entries: OrderedDict[CrmClaims, tuple[float, Identity]] = OrderedDict()

    def get(self, claims: CrmClaims) -> Identity | None:
        entry = self._entries.get(claims)
        if entry is None:
            return None
        stored_at, identity = entry
        if time.monotonic() - stored_at > self._seconds:
            del self._entries[claims]
            return None
        self._entries.move_to_end(claims)
        return identity

    def put(self, claims: CrmClaims, identity: Identity) -> None:
        self._entries[claims] = (time.monotonic(), identity)
        self._entries.move_to_end(claims)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


class Provisioner:
    """The identity of a verified CRM token, its workspace and user provisioned if need be."""

    def __init__(self, cache: IdentityCache | None = None) -> None:
        self._cache = cache or IdentityCache()

    async def identity(self, claims: CrmClaims) -> Identity:
        identity = self._cache.get(claims)
        if identity is None:
            identity = await provision(claims)
            self._cache.put(claims, identity)
        return identity


async def provision(claims: CrmClaims) -> Identity:
    workspace = await provisioned_workspace(claims)
    user = await provisioned_user(workspace, claims)
    return Identity(user_id=user.id, workspace_id=workspace.id, role=user.role)


# -- workspaces -----------------------------------------------------------------------------


async def provisioned_workspace(claims: CrmClaims) -> Workspace:
    found = await Workspace.get_or_none(external_id=claims.workspace_external_id)
    if found is not None:
        return found
    name = claims.workspace_name or claims.workspace_external_id[:MAX_NAME]
    for slug in slug_candidates(name):
        try:
            return await Workspace.create(
                name=name, slug=slug, external_id=claims.workspace_external_id
            )
        except IntegrityError:
            # Either another request provisioned it meanwhile, or the slug is taken.
            found = await Workspace.get_or_none(external_id=claims.workspace_external_id)
            if found is not None:
                return found
    raise TokenRefused("the token's workspace could not be given a unique slug; try again")


def slug_of(name: str) -> str:
    """`Acme Europe (Ltd.)` → `acme-europe-ltd`, short enough for a suffix."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    longest = MAX_SLUG - 1 - 2 * SLUG_SUFFIX_BYTES
    slug = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")[:longest].strip("-")
    return slug or FALLBACK_SLUG


def slug_candidates(name: str) -> list[str]:
    """The slug of `name`, then that slug with random suffixes, for when it is taken."""
    base = slug_of(name)
    suffixed = [f"{base}-{secrets.token_hex(SLUG_SUFFIX_BYTES)}" for _ in range(SLUG_ATTEMPTS)]
    return [base, *suffixed]


# -- users ----------------------------------------------------------------------------------


async def provisioned_user(workspace: Workspace, claims: CrmClaims) -> User:
    user = await _found_or_created(workspace, claims)
    if not user.is_active:
        raise TokenRefused("this user is disabled in Switchboard")
    await _keep_current(user, claims)
    return user


async def _found_or_created(workspace: Workspace, claims: CrmClaims) -> User:
    for _ in range(USER_ATTEMPTS):
        try:
            return await _found(workspace, claims) or await _created(workspace, claims)
        except IntegrityError:
            # Another request made or adopted this user (or took the email) meanwhile.
            continue
    raise TokenRefused("the token's user could not be provisioned; try again")


async def _created(workspace: Workspace, claims: CrmClaims) -> User:
    return await User.create(
        workspace=workspace,
        external_id=claims.user_external_id,
        email=claims.email,
        name=claims.name or claims.email.partition("@")[0],
        role=claims.role or Role.MEMBER,
        claims_issued_at=claims.issued_at,
    )


async def _found(workspace: Workspace, claims: CrmClaims) -> User | None:
    """The user with the token's external id, or the one an operator made with its email."""
    user = await User.get_or_none(workspace_id=workspace.id, external_id=claims.user_external_id)
    if user is not None:
        return user
    holder = await User.get_or_none(email=claims.email)
    if holder is None:
        return None
    if holder.workspace_id != workspace.id:
        raise TokenRefused("the token's email address belongs to a user of another workspace")
    if holder.external_id == claims.user_external_id:
        # Made by a concurrent request between the two reads.
        return holder
    if holder.external_id is not None:
        raise TokenRefused("the token's email address belongs to another user of this workspace")
    holder.external_id = claims.user_external_id
    await holder.save(update_fields=["external_id"])
    return holder


def _newer_than_applied(user: User, claims: CrmClaims) -> bool:
    """Whether the claims may change the user: tokens minted before those last applied may not,
    so that a still-valid older token cannot restore a role the CRM has since taken away."""
    applied = user.claims_issued_at
    if applied is None:
        return True
    return claims.issued_at is not None and claims.issued_at >= applied


async def _keep_current(user: User, claims: CrmClaims) -> None:
    """Email, name and role as the newest claims say; a claim the token lacks changes nothing."""
    if not _newer_than_applied(user, claims):
        return
    # `claims_issued_at` is recorded even when nothing else changed, so that no older token
    # changes anything later.
    wanted: dict[str, object] = {
        "email": claims.email,
        "name": claims.name,
        "role": claims.role,
        "claims_issued_at": claims.issued_at,
    }
    changed = [
        field
        for field, value in wanted.items()
        if value is not None and getattr(user, field) != value
    ]
    if not changed:
        return
    for field in changed:
        setattr(user, field, wanted[field])
    try:
        await user.save(update_fields=changed)
    except IntegrityError:
        raise TokenRefused("the token's email address belongs to another user") from None

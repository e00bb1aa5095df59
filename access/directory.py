"""The directory an operator keeps: workspaces and their users, made and listed by hand.

Everything an operator types is checked before anything is written, and each change is one
statement, so a refusal leaves the database as it was. Refusals are the client errors of
`core.errors` (`BadUserInput` naming the field, `Conflict`, `NotFound`), each message one line
that says which value is at fault.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from tortoise.exceptions import IntegrityError
from tortoise.functions import Count

from core.errors import BadUserInput, Conflict, Forbidden, NotFound
from core.identity import Identity
from core.vocabulary import Role
from crm import Rejected, normalize_email
from db.models import User, Workspace

# Column sizes (db/models.py).
MAX_NAME = 200  # Workspace.name, User.name
MAX_SLUG = 64  # Workspace.slug
MAX_EXTERNAL_ID = 255  # Workspace.external_id, User.external_id
DEFAULT_REGION = "US"
# Lowercase ASCII letters, digits and inner dashes: safe in a URL, a path and a shell.
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
# Control characters, line and paragraph separators, and lone surrogates: none belongs in a name
# or an id, a line of text output would break on them, and PostgreSQL cannot store NUL.
_UNWRITABLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
RACED = "another change to the directory came first; run the command again"
# How much of a refused value a message repeats: enough to recognise it, never a screenful.
_SHOWN = 80


@dataclass(frozen=True, slots=True)
class WorkspaceEntry:
    slug: str
    name: str
    external_id: str | None
    default_region: str
    users: int
    accounts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserEntry:
    email: str
    name: str
    role: Role
    workspace: str
    """The workspace's slug."""
    external_id: str | None
    active: bool
    created_at: datetime


def shown(value: str) -> str:
    """`value` quoted for a one-line message: escaped (no line break or surrogate gets through)
    and cut short."""
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


# -- checks on what the operator typed ------------------------------------------------------


def checked_text(value: str, field: str, maximum: int) -> str:
    """`value` without surrounding blanks: present, at most `maximum` characters, writable."""
    value = value.strip()
    if not value:
        raise BadUserInput(f"the {field} must not be empty", argument=field)
    if len(value) > maximum:
        raise BadUserInput(
            f"the {field} is {len(value):,} characters long; at most {maximum} are allowed",
            argument=field,
        )
    if any(unicodedata.category(char) in _UNWRITABLE_CATEGORIES for char in value):
        raise BadUserInput(
            f"the {field} must not contain control characters or line breaks", argument=field
        )
    return value


def checked_external_id(value: str | None) -> str | None:
    return None if value is None else checked_text(value, "external id", MAX_EXTERNAL_ID)


def checked_slug(value: str) -> str:
    if len(value) > MAX_SLUG or not _SLUG.fullmatch(value):
        raise BadUserInput(
            f"the slug {shown(value)} is not valid: use lowercase letters, digits and dashes "
            f"(not first or last), at most {MAX_SLUG}",
            argument="slug",
        )
    return value


def checked_email(value: str) -> str:
    """The address in the form the CRM's records and tokens use (`crm.normalize_email`)."""
    address = normalize_email(value)
    if isinstance(address, Rejected):
        raise BadUserInput(f"{shown(value)} is not a valid email address", argument="email")
    return address


def checked_role(value: str) -> Role:
    role = Role.__members__.get(value.strip().upper())
    if role is None:
        raise BadUserInput(
            f"the role {shown(value)} is not valid: use admin or member", argument="role"
        )
    return role


def checked_region(value: str) -> str:
    """A region phone numbers can be read in (ISO 3166 alpha-2, as `phonenumbers` knows them)."""
    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise BadUserInput(
            f"the region {shown(value)} is not valid: use a two-letter country code such as US",
            argument="region",
        )
    return region


# -- workspaces -----------------------------------------------------------------------------


async def create_workspace(
    *, name: str, slug: str, external_id: str | None = None, region: str = DEFAULT_REGION
) -> WorkspaceEntry:
    name = checked_text(name, "name", MAX_NAME)
    slug = checked_slug(slug)
    external_id = checked_external_id(external_id)
    region = checked_region(region)
    await _refuse_taken_workspace(slug, external_id)
    try:
        workspace = await Workspace.create(
            name=name, slug=slug, external_id=external_id, default_region=region
        )
    except IntegrityError:
        # Another operator took the slug or id since the check: say which.
        await _refuse_taken_workspace(slug, external_id)
        raise Conflict(RACED) from None
    return _workspace_entry(workspace, users=0, accounts=0)


async def _refuse_taken_workspace(slug: str, external_id: str | None) -> None:
    if await Workspace.exists(slug=slug):
        raise Conflict(f"a workspace with the slug {shown(slug)} already exists")
    if external_id is not None and await Workspace.exists(external_id=external_id):
        raise Conflict(f"a workspace with the external id {shown(external_id)} already exists")


async def list_workspaces() -> list[WorkspaceEntry]:
    """Every workspace by slug, with how many users and accounts it has."""
    workspaces = (
        await Workspace.annotate(
            user_count=Count("users", distinct=True), account_count=Count("accounts", distinct=True)
        )
        .group_by("id")
        .order_by("slug")
    )
    return [
        _workspace_entry(
            workspace,
            users=workspace.user_count,  # type: ignore[attr-defined]
            accounts=workspace.account_count,  # type: ignore[attr-defined]
        )
        for workspace in workspaces
    ]


async def workspace_by_slug(slug: str) -> Workspace:
    workspace = await Workspace.get_or_none(slug=slug)
    if workspace is None:
        raise NotFound(f"there is no workspace with the slug {shown(slug)}")
    return workspace


def _workspace_entry(workspace: Workspace, *, users: int, accounts: int) -> WorkspaceEntry:
    return WorkspaceEntry(
        slug=workspace.slug,
        name=workspace.name,
        external_id=workspace.external_id,
        default_region=workspace.default_region,
        users=users,
        accounts=accounts,
        created_at=workspace.created_at,
    )


# -- users ----------------------------------------------------------------------------------


async def create_user(
    *, workspace: str, email: str, name: str, role: str, external_id: str | None = None
) -> UserEntry:
    """A user of the workspace with the slug `workspace`; `role` is `admin` or `member`."""
    email = checked_email(email)
    name = checked_text(name, "name", MAX_NAME)
    user_role = checked_role(role)
    external_id = checked_external_id(external_id)
    home = await workspace_by_slug(workspace)
    await _refuse_taken_user(home, email, external_id)
    try:
        user = await User.create(
            workspace=home, email=email, name=name, role=user_role, external_id=external_id
        )
    except IntegrityError:
        await _refuse_taken_user(home, email, external_id)
        raise Conflict(RACED) from None
    return _user_entry(user, home.slug)


async def _refuse_taken_user(workspace: Workspace, email: str, external_id: str | None) -> None:
    holder = await User.get_or_none(email=email).prefetch_related("workspace")
    if holder is not None:
        raise Conflict(
            f"a user with the email {shown(email)} already exists, "
            f"in the workspace {shown(holder.workspace.slug)}"
        )
    if external_id is not None and await User.exists(
        workspace_id=workspace.id, external_id=external_id
    ):
        raise Conflict(
            f"a user with the external id {shown(external_id)} already exists "
            f"in the workspace {shown(workspace.slug)}"
        )


async def list_users(workspace: str | None = None) -> list[UserEntry]:
    """Every user, or those of the workspace with the slug `workspace`, by workspace and email."""
    users = User.all().select_related("workspace").order_by("workspace__slug", "email")
    if workspace is not None:
        users = users.filter(workspace_id=(await workspace_by_slug(workspace)).id)
    return [_user_entry(user, user.workspace.slug) for user in await users]


async def set_user_active(email: str, active: bool) -> tuple[UserEntry, bool]:
    """Enables or disables the user with `email`; also whether that changed anything. A disabled
    user's tokens are refused from the next request on (`access.scope` checks every one)."""
    user = await _user_by_email(email)
    changed = user.is_active != active
    if changed:
        user.is_active = active
        await user.save(update_fields=["is_active"])
    return _user_entry(user, user.workspace.slug), changed


async def active_identity(email: str) -> tuple[Identity, UserEntry]:
    """Who a token for the user with `email` names; refused for a disabled user."""
    user = await _user_by_email(email)
    if not user.is_active:
        raise Forbidden(
            f"the user {shown(user.email)} is disabled (`switchboard users enable` restores them)"
        )
    identity = Identity(user_id=user.id, workspace_id=user.workspace_id, role=user.role)
    return identity, _user_entry(user, user.workspace.slug)


async def _user_by_email(email: str) -> User:
    user = await User.get_or_none(email=checked_email(email)).prefetch_related("workspace")
    if user is None:
        raise NotFound(f"there is no user with the email {shown(email.strip())}")
    return user


def _user_entry(user: User, workspace: str) -> UserEntry:
    return UserEntry(
        email=user.email,
        name=user.name,
        role=user.role,
        workspace=workspace,
        external_id=user.external_id,
        active=user.is_active,
        created_at=user.created_at,
    )

"""`switchboard workspaces …`, `switchboard users …` and `switchboard token`: the operators'
directory (`access.directory`) on the command line.

Each command prints aligned text, or with `--json` one JSON document for scripts; a refusal is
one line on stderr and exit code 1, with nothing written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from access import directory
from access.directory import UserEntry, WorkspaceEntry
from access.tokens import issue_token
from core.errors import SwitchboardError
from server.commands._database import CommandError, with_database
from server.settings import Settings

Result = TypeVar("Result")
if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
# A token outliving a year is a credential nobody remembers handing out.
MAX_TOKEN_HOURS = 24 * 366
ABSENT = "-"


def register(commands: Subcommands) -> None:
    _register_workspaces(commands)
    _register_users(commands)
    _register_token(commands)


def _register_workspaces(commands: Subcommands) -> None:
    parser = commands.add_parser("workspaces", help="create and list workspaces")
    group = parser.add_subparsers(dest="workspaces_command", required=True)

    create = _with_json(group.add_parser("create", help="create a workspace"))
    create.add_argument("--name", required=True, help=f"at most {directory.MAX_NAME} characters")
    create.add_argument(
        "--slug",
        required=True,
        help=f"lowercase letters, digits and dashes, at most {directory.MAX_SLUG}",
    )
    create.add_argument("--external-id", help="the CRM's id of this workspace")
    create.add_argument(
        "--region",
        default=directory.DEFAULT_REGION,
        help="country whose phone numbers need no +prefix (default: %(default)s)",
    )
    create.set_defaults(run=workspaces_create)

    _with_json(group.add_parser("list", help="list the workspaces")).set_defaults(
        run=workspaces_list
    )


def _register_users(commands: Subcommands) -> None:
    parser = commands.add_parser("users", help="create, list, disable and enable users")
    group = parser.add_subparsers(dest="users_command", required=True)

    create = _with_json(group.add_parser("create", help="create a user in a workspace"))
    create.add_argument("--workspace", required=True, help="the workspace's slug")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help=f"at most {directory.MAX_NAME} characters")
    create.add_argument("--role", required=True, help="admin or member")
    create.add_argument("--external-id", help="the CRM's id of this user")
    create.set_defaults(run=users_create)

    listing = _with_json(group.add_parser("list", help="list the users"))
    listing.add_argument("--workspace", help="only this workspace's (its slug)")
    listing.set_defaults(run=users_list)

    for action, active, effect in (
        ("disable", False, "refuse a user's tokens from now on"),
        ("enable", True, "accept a disabled user's tokens again"),
    ):
        command = _with_json(group.add_parser(action, help=effect))
        command.add_argument("--email", required=True)
        command.set_defaults(run=users_set_active, active=active)


def _register_token(commands: Subcommands) -> None:
    parser = _with_json(commands.add_parser("token", help="print a bearer token for a user"))
    parser.add_argument("--email", required=True)
    parser.add_argument(
        "--hours",
        type=float,
        help=f"lifetime, at most {MAX_TOKEN_HOURS} (default: TOKEN_TTL_HOURS)",
    )
    parser.set_defaults(run=token)


def _with_json(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


# -- the commands ---------------------------------------------------------------------------


def workspaces_create(settings: Settings, arguments: argparse.Namespace) -> None:
    created = _on_database(
        settings,
        lambda: directory.create_workspace(
            name=arguments.name,
            slug=arguments.slug,
            external_id=arguments.external_id,
            region=arguments.region,
        ),
    )
    _emit(arguments, _workspace_document(created), _workspace_table([created]))


def workspaces_list(settings: Settings, arguments: argparse.Namespace) -> None:
    workspaces = _on_database(settings, directory.list_workspaces)
    _emit(
        arguments,
        {"workspaces": [_workspace_document(workspace) for workspace in workspaces]},
        _workspace_table(workspaces) if workspaces else "no workspaces",
    )


def users_create(settings: Settings, arguments: argparse.Namespace) -> None:
    created = _on_database(
        settings,
        lambda: directory.create_user(
            workspace=arguments.workspace,
            email=arguments.email,
            name=arguments.name,
            role=arguments.role,
            external_id=arguments.external_id,
        ),
    )
    _emit(arguments, _user_document(created), _user_table([created]))


def users_list(settings: Settings, arguments: argparse.Namespace) -> None:
    users = _on_database(settings, lambda: directory.list_users(arguments.workspace))
    _emit(
        arguments,
        {"users": [_user_document(user) for user in users]},
        _user_table(users) if users else "no users",
    )


def users_set_active(settings: Settings, arguments: argparse.Namespace) -> None:
    user, changed = _on_database(
        settings, lambda: directory.set_user_active(arguments.email, arguments.active)
    )
    state = "enabled" if user.active else "disabled"
    said = f"{user.email} {state}" if changed else f"{user.email} was already {state}"
    if changed and not user.active:
        said += ": their tokens are refused from now on"
    _emit(arguments, {**_user_document(user), "changed": changed}, said)


def token(settings: Settings, arguments: argparse.Namespace) -> None:
    hours = settings.token_ttl_hours if arguments.hours is None else arguments.hours
    ttl = token_lifetime(hours)
    identity, user = _on_database(settings, lambda: directory.active_identity(arguments.email))
    issued = datetime.now(UTC)
    bearer = issue_token(identity, settings.signing_key(), ttl, now=issued)
    document = {
        "token": bearer,
        "email": user.email,
        "workspace": user.workspace,
        "expires_at": (issued + ttl).isoformat(),
    }
    _emit(arguments, document, bearer)


def token_lifetime(hours: float) -> timedelta:
    if not (math.isfinite(hours) and 0 < hours <= MAX_TOKEN_HOURS):
        raise CommandError(
            f"a token's lifetime must be more than 0 and at most {MAX_TOKEN_HOURS} hours, "
            f"not {hours:g}"
        )
    return timedelta(hours=hours)


# -- running and printing -------------------------------------------------------------------


def _on_database(settings: Settings, work: Callable[[], Awaitable[Result]]) -> Result:
    """What `work` returns, run on the migrated database; its refusal becomes the command's."""
    results: list[Result] = []

    async def run() -> None:
        try:
            results.append(await work())
        except SwitchboardError as error:
            raise CommandError(str(error)) from None

    asyncio.run(with_database(settings, run))
    return results[0]


def _emit(arguments: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    # ASCII JSON: whatever a name holds, the document prints on any terminal or pipe.
    print(json.dumps(document) if arguments.json else text)


def _workspace_document(workspace: WorkspaceEntry) -> dict[str, Any]:
    return {
        "slug": workspace.slug,
        "name": workspace.name,
        "external_id": workspace.external_id,
        "default_region": workspace.default_region,
        "users": workspace.users,
        "accounts": workspace.accounts,
        "created_at": workspace.created_at.isoformat(),
    }


def _user_document(user: UserEntry) -> dict[str, Any]:
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role.value.lower(),
        "workspace": user.workspace,
        "external_id": user.external_id,
        "active": user.active,
        "created_at": user.created_at.isoformat(),
    }


def _workspace_table(workspaces: Sequence[WorkspaceEntry]) -> str:
    return table(
        ("SLUG", "NAME", "EXTERNAL ID", "REGION", "USERS", "ACCOUNTS"),
        [
            (
                workspace.slug,
                workspace.name,
                workspace.external_id or ABSENT,
                workspace.default_region,
                str(workspace.users),
                str(workspace.accounts),
            )
            for workspace in workspaces
        ],
    )


def _user_table(users: Sequence[UserEntry]) -> str:
    return table(
        ("EMAIL", "NAME", "ROLE", "WORKSPACE", "EXTERNAL ID", "STATUS"),
        [
            (
                user.email,
                user.name,
                user.role.value.lower(),
                user.workspace,
                user.external_id or ABSENT,
                "active" if user.active else "disabled",
            )
            for user in users
        ],
    )


def table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks."""
    widths = [max(len(row[column]) for row in [headings, *rows]) for column in range(len(headings))]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headings, *rows]
    )
    return "\n".join(lines)

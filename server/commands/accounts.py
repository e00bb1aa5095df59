"""`switchboard accounts import`: attach the accounts UniPile already has to a user
(`accounts.import_accounts`), for a CRM that connected them before it used Switchboard.

UniPile is the configured one (`UNIPILE_DSN`), or with the embedded sandbox the sandbox of a
running `switchboard serve`, as `switchboard webhooks register` finds it. Each account is one line
(or, with `--json`, one JSON document), then a summary; a refusal is one line and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import httpx

from accounts import ImportedAccount, ImportResult, import_accounts
from core.errors import SwitchboardError
from db.models import User
from server.commands._database import CommandError, with_database
from server.settings import Settings
from unipile import UnipileClient, UnipileError

if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

MAX_EMAIL = 320  # User.email


def register(commands: Subcommands) -> None:
    parser = commands.add_parser("accounts", help="UniPile accounts connected outside Switchboard")
    group = parser.add_subparsers(dest="accounts_command", required=True)
    importing = group.add_parser(
        "import", help="attach UniPile's accounts not yet known here to a user (idempotent)"
    )
    importing.add_argument("--owner", required=True, help="the email of the user to own them")
    importing.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="UNIPILE_ID",
        help="only this account (repeatable; default: every account UniPile lists)",
    )
    importing.add_argument("--json", action="store_true", help="print one JSON document")
    importing.set_defaults(run=accounts_import)


def accounts_import(settings: Settings, arguments: argparse.Namespace) -> None:
    results: list[ImportedAccount] = []

    async def work() -> None:
        owner = await _owner(arguments.owner)
        results.extend(await _imported(settings, owner, arguments.account))

    asyncio.run(with_database(settings, work))
    if arguments.json:
        print(
            json.dumps({"accounts": [_document(r) for r in results], "summary": _counts(results)})
        )
        return
    for result in results:
        print(_line(result))
    print(_summary(results))


async def _owner(email: str) -> User:
    user = await User.get_or_none(email=email[:MAX_EMAIL]) if len(email) <= MAX_EMAIL else None
    if user is None:
        raise CommandError(f"no user with the email {email[:80]!r}")
    if not user.is_active:
        raise CommandError(f"the user {user.email} is disabled")
    return user


async def _imported(
    settings: Settings, owner: User, requested: Sequence[str]
) -> list[ImportedAccount]:
    from server.app import UPSTREAM_TIMEOUT, unipile_endpoint

    dsn, api_key = unipile_endpoint(settings)
    async with httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT) as http:
        try:
            return await import_accounts(UnipileClient(http, dsn, api_key), owner, requested)
        except SwitchboardError as error:
            raise CommandError(str(error)) from None
        except UnipileError as error:
            raise CommandError(f"UniPile at {dsn} could not list its accounts: {error}") from None


def _document(result: ImportedAccount) -> dict[str, Any]:
    return {
        "unipile_id": result.unipile_id,
        "result": result.result.value,
        "type": result.type,
        "name": result.name,
        "owner": result.owner_email,
    }


def _line(result: ImportedAccount) -> str:
    described = f" {result.type} {result.name!r}" if result.type else ""
    owner = f" (owner {result.owner_email})" if result.owner_email else ""
    outcome = result.result.value.lower().replace("_", " ")
    return f"{outcome}: {result.unipile_id}{described}{owner}"


def _counts(results: Sequence[ImportedAccount]) -> dict[str, int]:
    counted = Counter(result.result for result in results)
    return {result.value.lower(): counted[result] for result in ImportResult}


def _summary(results: Sequence[ImportedAccount]) -> str:
    counts = _counts(results)
    return f"{len(results)} accounts: " + ", ".join(
        f"{count} {name.replace('_', ' ')}" for name, count in counts.items()
    )

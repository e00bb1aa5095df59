"""The `switchboard` command.

Commands import what only they need inside their function, so that quick ones (`token`,
`migrate`) do not load the whole server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from db.migrate import apply_migrations
from server.commands import accounts, crm, directory
from server.commands._database import CommandError, with_database
from server.observability.logs import configure_logging
from server.settings import Settings, SettingsError

SCHEMA_FILE = Path("schema.graphql")


def load_settings() -> Settings:
    return Settings.from_environ(os.environ)


def _prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)


def migrate(settings: Settings, arguments: argparse.Namespace) -> None:
    _prepare_data_dir(settings)
    asyncio.run(apply_migrations(settings.database_url))
    print("migrations applied")


def export_schema(settings: Settings, arguments: argparse.Namespace) -> None:
    from schema.schema import schema

    arguments.output.write_text(schema.as_str() + "\n", encoding="utf-8")
    print(f"wrote {arguments.output}")


def serve(settings: Settings, arguments: argparse.Namespace) -> None:
    from server.serve import run_forever, run_workers, workers_problem

    if arguments.workers > 1 and (problem := workers_problem(settings)):
        raise CommandError(problem)
    _prepare_data_dir(settings)
    asyncio.run(with_database(settings, _nothing))
    configure_logging(settings.log_level)
    if arguments.workers > 1:
        run_workers(settings, arguments.workers)
    else:
        run_forever(settings)


async def _nothing() -> None:
    """`serve` only checks the database before the app opens it for itself."""


def seed_demo(settings: Settings, arguments: argparse.Namespace) -> None:
    from server.demo import load_demo

    async def seed() -> None:
        summary = await load_demo(settings.sandbox_seed)
        print(summary.describe(settings))

    asyncio.run(with_database(settings, seed))


def sandbox(settings: Settings, arguments: argparse.Namespace) -> None:
    from unipile.sandbox import SandboxSettings, run_sandbox

    sandbox_settings = SandboxSettings(
        api_key=arguments.api_key,
        seed=arguments.seed,
        generator_interval_s=arguments.message_interval or None,
    )
    run_sandbox(sandbox_settings, host=arguments.host, port=arguments.port)


def webhooks_register(settings: Settings, arguments: argparse.Namespace) -> None:
    import httpx

    from server.app import UPSTREAM_TIMEOUT, unipile_endpoint
    from server.webhooks import register_webhooks
    from unipile import UnipileClient, UnipileError

    async def register() -> list[str]:
        dsn, api_key = unipile_endpoint(settings)
        async with httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT) as http:
            client = UnipileClient(http, dsn, api_key)
            return await register_webhooks(
                client, url=settings.public_url, secret=settings.webhook_key()
            )

    try:
        ids = asyncio.run(register())
    except UnipileError as error:
        raise CommandError(f"UniPile refused: {error}") from None
    print(f"webhooks registered for {settings.public_url}: {', '.join(ids)}")


def _worker_count(value: str) -> int:
    count = int(value) if value.isdigit() else 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {value!r}")
    return count


Command = Callable[[Settings, argparse.Namespace], None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard", description="Switchboard: a live-first inbox API."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser(
        "serve", help="serve the API (and the embedded sandbox when UNIPILE_DSN is unset)"
    )
    serve_parser.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        help="processes serving on one port; more than 1 needs UNIPILE_DSN and REDIS_URL",
    )
    serve_parser.set_defaults(run=serve)
    commands.add_parser("migrate", help="apply the database migrations").set_defaults(run=migrate)
    commands.add_parser(
        "seed-demo", help="load the demo workspace, users, accounts and CRM (idempotent)"
    ).set_defaults(run=seed_demo)

    directory.register(commands)
    accounts.register(commands)
    crm.register(commands)

    export_parser = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export_parser.add_argument("--output", type=Path, default=SCHEMA_FILE)
    export_parser.set_defaults(run=export_schema)

    webhooks_parser = commands.add_parser("webhooks", help="UniPile webhooks")
    webhooks_commands = webhooks_parser.add_subparsers(dest="webhooks_command", required=True)
    webhooks_commands.add_parser(
        "register", help="create the webhooks pointing at PUBLIC_URL (idempotent)"
    ).set_defaults(run=webhooks_register)

    sandbox_parser = commands.add_parser("sandbox", help="serve the UniPile sandbox alone")
    sandbox_parser.add_argument("--host", default="127.0.0.1")
    sandbox_parser.add_argument("--port", type=int, default=8001)
    sandbox_parser.add_argument("--api-key", required=True)
    sandbox_parser.add_argument("--seed", type=int, default=7)
    sandbox_parser.add_argument(
        "--message-interval",
        type=float,
        default=0.0,
        help="seconds between generated messages; 0: off",
    )
    sandbox_parser.set_defaults(run=sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    run: Command = arguments.run
    try:
        run(load_settings(), arguments)
    except SettingsError as error:
        print(f"switchboard: configuration error: {error}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"switchboard: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

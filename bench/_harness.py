"""What both benchmarks do around their measurements: options, the prepared database, the sandbox
and server processes, the load client, the machine line and the exit codes.

Every process they start runs in its own process group and is killed in `finally` blocks (see
`bench._processes`); every loop is bounded in count and in time. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import httpx

from bench._processes import (
    HOST,
    BenchError,
    Process,
    free_port,
    machine,
    run_command,
    started,
    switchboard_command,
    terminate_on_sigterm,
    wait_until_ready,
)

SANDBOX_KEY = "bench-sandbox-key-0123456789abcdef"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef-0123456789"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789abcdef-0123"


# `--profile PATH`: the server under cProfile; the stats are written when it stops (SIGTERM).
PROFILED_SERVER = """
import cProfile, signal, sys
from server.cli import main
# uvicorn re-raises the SIGTERM it caught once it has shut down; exit through `finally` instead.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
profile = cProfile.Profile()
profile.enable()
try:
    main(["serve"])
finally:
    profile.disable()
    profile.dump_stats(sys.argv[1])
"""


class _Options(Protocol):
    invalid: ClassVar[str]  # what `parse_options` says when a value is out of bounds


OptionsT = TypeVar("OptionsT", bound=_Options)
Number = TypeVar("Number", int, float)


# --- options: each benchmark declares its flags as the fields of its Options dataclass ---------


@dataclass(frozen=True)
class _Flag:
    arguments: dict[str, Any]  # for `ArgumentParser.add_argument`
    least: float | None = None
    most: float | None = None
    levels: bool = False  # comma-separated concurrency levels


def _option(flag: _Flag, **field_default: Any) -> Any:
    return field(metadata={"flag": flag}, **field_default)


def number(
    default: Number, what: str, *, least: Number | None = None, most: Number | None = None
) -> Any:
    """`--name N`; the benchmark's `invalid` message if N is outside `least`..`most`."""
    arguments = {"type": type(default), "default": default, "help": f"{what} (default {default:g})"}
    return _option(_Flag(arguments, least, most), default=default)


def levels(default: str) -> Any:
    """`--concurrency 1,4,16`, parsed to a tuple of positive integers."""
    arguments = {"default": default, "help": f"comma-separated levels (default {default})"}
    parsed = tuple(int(level) for level in default.split(","))
    return _option(_Flag(arguments, levels=True), default=parsed)


def text(what: str) -> Any:
    return _option(_Flag({"help": what}), default=None)


def path(what: str) -> Any:
    return _option(_Flag({"type": Path, "help": what}), default=None)


def flag(what: str) -> Any:
    return _option(_Flag({"action": "store_true", "help": what}), default=False)


def parse_options(
    options_type: type[OptionsT], argv: Sequence[str] | None, prog: str, doc: str
) -> OptionsT:
    """The flags of `options_type`'s fields, in their order, parsed from `argv`.

    A value outside its bounds is refused with the message `options_type.invalid`.
    """
    description = doc.split("\n\n")[0]
    parser = argparse.ArgumentParser(prog=prog, description=description)
    flags = {
        each.name: each.metadata["flag"]
        for each in dataclasses.fields(options_type)  # type: ignore[arg-type]
    }
    for name, spec in flags.items():
        parser.add_argument("--" + name.replace("_", "-"), **spec.arguments)
    values = vars(parser.parse_args(argv))
    for name, spec in flags.items():
        value = values[name]
        if spec.levels:
            try:
                value = values[name] = tuple(
                    int(level) for level in value.split(",") if level.strip()
                )
            except ValueError:
                example = spec.arguments["default"]
                parser.error(f"--concurrency takes comma-separated integers, e.g. {example}")
            if not value or min(value) < 1:
                parser.error(options_type.invalid)
        elif (spec.least is not None and value < spec.least) or (
            spec.most is not None and value > spec.most
        ):
            parser.error(options_type.invalid)
    return options_type(**values)


# --- the prepared database, the sandbox and the server -----------------------------------------


def base_env(workdir: Path, database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("UNIPILE_DSN", "UNIPILE_API_KEY")
    }
    env.update(
        DATABASE_URL=database_url,
        DATA_DIR=str(workdir / "data"),
        JWT_SECRET=JWT_SECRET,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOG_LEVEL="WARNING",
        HOST=HOST,
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass(frozen=True)
class Prepared:
    started_at: datetime
    clock: float  # time.monotonic() at the start
    workdir: Path  # the database, the data dir and the processes' logs
    database: Path  # the SQLite file, unless --database-url names another database
    env: dict[str, str]
    token: str  # the user's bearer token

    def elapsed(self) -> float:
        return time.monotonic() - self.clock


@contextlib.contextmanager
def prepared(
    prefix: str, keep: bool, user_email: str, database_url: str | None = None
) -> Iterator[Prepared]:
    """A temporary directory with a migrated database seeded with the demo data."""
    started_at, clock = datetime.now(UTC), time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        database = workdir / "bench.sqlite3"
        database_url = database_url or f"sqlite://{database}"
        env = base_env(workdir, database_url)
        print(f"preparing {database_url} in {workdir}", file=sys.stderr, flush=True)
        run_command(switchboard_command("migrate"), env, workdir, timeout=120)
        run_command(switchboard_command("seed-demo"), env, workdir, timeout=120)
        output = run_command(
            switchboard_command("token", "--email", user_email), env, workdir, timeout=60
        )
        token = output.strip().splitlines()[-1]
        yield Prepared(started_at, clock, workdir, database, env, token)
    finally:
        if keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def sandbox_started(
    env: dict[str, str], workdir: Path, faults: dict[str, float]
) -> AsyncIterator[tuple[Process, str]]:
    """`switchboard sandbox` with `faults` set; the process and its URL."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = switchboard_command(
        "sandbox", "--host", HOST, "--port", str(port), "--api-key", SANDBOX_KEY
    )
    with started("sandbox", command, env, workdir) as process:
        await wait_until_ready(process, f"{url}/_sandbox/faults")
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as admin:
            response = await admin.post("/_sandbox/faults", json=faults)
            if response.status_code != 200:
                raise BenchError(
                    f"POST /_sandbox/faults answered {response.status_code}: {response.text}"
                )
        yield process, url


@dataclass(frozen=True)
class Server:
    process: Process
    url: str
    env: dict[str, str]


@contextlib.asynccontextmanager
async def server_started(
    name: str,
    command: list[str],
    env: dict[str, str],
    workdir: Path,
    sandbox_url: str,
    grace: float = 5.0,
    public_url: bool = False,
    **extra_env: str,
) -> AsyncIterator[Server]:
    """`command` serving on a free port against the sandbox, once `/readyz` answers.

    `public_url`: `PUBLIC_URL` is the server's own URL, for `switchboard webhooks register`.
    """
    port = free_port()
    url = f"http://{HOST}:{port}"
    server_env = dict(
        env,
        PORT=str(port),
        SANDBOX_PORT=str(free_port()),
        UNIPILE_DSN=sandbox_url,
        UNIPILE_API_KEY=SANDBOX_KEY,
        **extra_env,
    )
    if public_url:
        server_env["PUBLIC_URL"] = url
    with started(name, command, server_env, workdir, grace=grace) as process:
        await wait_until_ready(process, f"{url}/readyz")
        yield Server(process, url, server_env)


def load_client(
    url: str, concurrency: Sequence[int], headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    """A keep-alive client with a connection for every worker of the highest level."""
    connections = max(concurrency) + 4
    return httpx.AsyncClient(
        base_url=url,
        timeout=30.0,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        headers=headers,
    )


# --- the report and the exit code ---------------------------------------------------------------


def machine_line(client: str, elapsed: float) -> str:
    info = machine()
    return (
        f"Machine: {info['nproc']} cores (`nproc`), {info['cpu']}, {info['python']}, {info['os']}; "
        f"server, sandbox and {client} share it. Load average at the end: "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}. Whole run: {elapsed:.0f} s."
    )


def main(
    run: Callable[[OptionsT], Coroutine[Any, Any, str]],
    options_type: type[OptionsT],
    argv: Sequence[str] | None,
    prog: str,
    doc: str,
) -> int:
    """Print the report `run` returns; 1 if the benchmark could not go on, 130 if interrupted."""
    options = parse_options(options_type, argv, prog, doc)
    signal.signal(signal.SIGTERM, terminate_on_sigterm)
    try:
        print(asyncio.run(run(options)))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    return 0

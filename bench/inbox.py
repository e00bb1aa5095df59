"""The inbox benchmark: the 50-conversation inbox page, end to end, over a fixed-latency sandbox.

    python -m bench.inbox                      # or: make bench
    python -m bench.inbox --concurrency 1,8 --requests 500 --starts 5 --latency-ms 50

What it does (see docs/benchmarks.md):

1. a temporary data dir and SQLite database, filled by `switchboard migrate` and `seed-demo`;
2. a sandbox process (`switchboard sandbox`) with `latency_ms` set through `POST /_sandbox/faults`,
   and the sandbox's own latency for the upstream calls one inbox page makes, timed directly;
3. for each of `--starts` server starts: `switchboard serve` against that sandbox, with
   `SWITCHBOARD_REPORT_COST=1` and `LOG_LEVEL=WARNING`; a warm-up; then, at each concurrency level,
   `--requests` inbox queries sent by that many concurrent workers, each latency recorded, the cost
   read from `extensions.cost`, and the CPU time the server, the sandbox and this client used;
4. unless `--no-baseline`, after each Switchboard start, a start of the stock Strawberry baseline
   (`bench.baseline`) serving, from memory, the first Switchboard response of the run, measured the
   same way at the same levels: starts alternate, so that the machine's noise hits both alike;
5. a Markdown table of the medians over the starts, the baseline's table and the ratios
   Switchboard/baseline, the per-start numbers, and the machine.

Process handling and bounds: `bench._harness`.
"""

# The GraphQL selection and the report's Markdown lines are kept whole, for grep.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import orjson

from bench import _harness as harness
from bench._harness import SANDBOX_KEY, flag, levels, number, path, text
from bench._processes import (
    HOST,
    BenchError,
    Process,
    fmt,
    free_port,
    machine_busy_seconds,
    median,
    percentile,
    started,
    switchboard_command,
    wait_until_ready,
)

USER_EMAIL = "alice@demo.switchboard.test"
# The directory that holds the `bench` package, for the baseline's process.
BENCH_SOURCE = Path(__file__).resolve().parent.parent
# Alice's accounts in the demo data (README, "Demo data"): two mailboxes and the shared LinkedIn.
ALICE_EMAIL_ACCOUNTS = ("acc_gmail_demo_000001", "acc_outlook_demo_00001")
ALICE_CHAT_ACCOUNTS = ("acc_linkedin_demo_0001",)

# The selection of tests/inbox/test_conversations.py (PAGE): participants, CRM matches, storage, links.
PAGE = """
query Page($first: Int, $after: String, $filter: ConversationFilter) {
  conversations(first: $first, after: $after, filter: $filter) {
    edges { cursor node {
      id externalId channel subject isGroup lastMessageAt lastMessagePreview unreadCount hasAttachments canLink
      account { id externalId }
      participants { identifier identifierType displayName isSelf role phoneNumber emailAddress
        crmMatch { contact { id name } company { id name } method confidence ambiguous candidates { id kind name method confidence } } }
      storage { stored shouldStore reason storedAt }
      links { id target { id name } source rule createdAt }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

# `--gc-tuned`: the server started with the GC settings of ../shared/stack-notes.md, without
# touching its code (an experiment; the default run measures the server as shipped).
GC_TUNED_SERVER = """
import gc, sys
import server.app, server.serve, schema.schema  # noqa: F401  (import everything before freezing)
from server.cli import main
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 20)
sys.exit(main(["serve"]))
"""

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


# --- the sandbox's own latency ---------------------------------------------------------------


@dataclass
class SandboxLatency:
    chats_ms: list[float] = field(
        default_factory=list
    )  # one `GET /api/v1/chats?account_id=...&limit=51`
    emails_ms: list[float] = field(
        default_factory=list
    )  # one `GET /api/v1/emails?...&meta_only=true&limit=204`
    round_ms: list[float] = field(default_factory=list)  # a page's three list calls, concurrently


async def measure_sandbox(
    sandbox_url: str, first: int, samples: int, max_seconds: float
) -> SandboxLatency:
    """Time, directly over HTTP, the upstream list calls one inbox page of `first` makes.

    The same paths and parameters the server sends (the limits come from `inbox.merge`), the body
    read but not parsed: this is the sandbox's own latency as a client sees it, the floor under the
    server's latency.
    """
    from inbox.merge import EMAIL_WINDOW, chat_limit

    chats = [
        ("/api/v1/chats", {"account_id": a, "limit": str(chat_limit(first))})
        for a in ALICE_CHAT_ACCOUNTS
    ]
    emails = [
        ("/api/v1/emails", {"account_id": a, "meta_only": "true", "limit": str(EMAIL_WINDOW)})
        for a in ALICE_EMAIL_ACCOUNTS
    ]
    result = SandboxLatency()
    deadline = time.monotonic() + max_seconds
    async with httpx.AsyncClient(
        base_url=sandbox_url, timeout=30.0, headers={"X-API-KEY": SANDBOX_KEY}
    ) as http:

        async def get(path: str, params: dict[str, str]) -> float:
            start = time.perf_counter()
            response = await http.get(path, params=params)
            response.raise_for_status()
            return (time.perf_counter() - start) * 1000

        async def one_page() -> float:
            start = time.perf_counter()
            await asyncio.gather(*(get(path, params) for path, params in chats + emails))
            return (time.perf_counter() - start) * 1000

        for _ in range(3):  # open and warm the connections
            await one_page()
        for _ in range(samples):
            if time.monotonic() > deadline:
                break
            result.chats_ms.append(await get(*chats[0]))
            result.emails_ms.append(await get(*emails[0]))
            result.round_ms.append(await one_page())
    return result


# --- load ------------------------------------------------------------------------------------


@dataclass
class LevelResult:
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    cost: dict[str, Any]
    upstream_per_request: float  # counted by the sandbox
    server_cpu_s: float
    sandbox_cpu_s: float
    client_cpu_s: float
    server_rss_mb: float
    other_cpu_s: (
        float  # CPU used meanwhile by processes other than these three (other work on the machine)
    )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu_s * 1000 / self.requests


def check_page(body: bytes, first: int) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(body)
    if result.get("errors"):
        raise BenchError(
            f"the inbox query answered errors: {orjson.dumps(result['errors'])[:2000]!r}"
        )
    edges = result["data"]["conversations"]["edges"]
    if len(edges) != first:
        raise BenchError(f"the inbox query answered {len(edges)} conversations, not {first}")
    return result


async def run_level(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    server: Process,
    sandbox_process: Process,
    concurrency: int,
    requests: int,
    first: int,
    max_seconds: float,
) -> LevelResult:
    payload = orjson.dumps({"query": PAGE, "variables": {"first": first}})
    headers = {"content-type": "application/json"}
    latencies: list[float] = []
    costs: list[dict[str, Any]] = []
    remaining = requests
    deadline = time.monotonic() + max_seconds

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.monotonic() < deadline:
            remaining -= 1
            start = time.perf_counter()
            response = await client.post("/graphql", content=payload, headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise BenchError(
                    f"the server answered {response.status_code}: {response.text[:2000]}"
                )
            if not costs:
                costs.append(
                    check_page(response.content, first).get("extensions", {}).get("cost", {})
                )
            latencies.append(elapsed)

    await sandbox.post("/_sandbox/stats/reset")
    server_cpu, sandbox_cpu, client_cpu = (
        server.cpu_seconds(),
        sandbox_process.cpu_seconds(),
        time.process_time(),
    )
    busy = machine_busy_seconds()
    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(concurrency))), timeout=max_seconds + 60
    )
    seconds = time.perf_counter() - start
    result = LevelResult(
        concurrency=concurrency,
        requests=len(latencies),
        seconds=seconds,
        latencies_ms=latencies,
        cost=costs[0] if costs else {},
        upstream_per_request=0.0,
        server_cpu_s=server.cpu_seconds() - server_cpu,
        sandbox_cpu_s=sandbox_process.cpu_seconds() - sandbox_cpu,
        client_cpu_s=time.process_time() - client_cpu,
        server_rss_mb=server.rss_mb(),
        other_cpu_s=0.0,
    )
    result.other_cpu_s = (
        machine_busy_seconds()
        - busy
        - result.server_cpu_s
        - result.sandbox_cpu_s
        - result.client_cpu_s
    )
    stats = (await sandbox.get("/_sandbox/stats")).json()
    result.upstream_per_request = stats["total"] / max(1, result.requests)
    return result


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Options:
    invalid: ClassVar[str] = (
        "concurrency levels, --requests and --starts must be positive; --first from 1 to 100"
    )
    concurrency: tuple[int, ...] = levels("1,4,16")
    requests: int = number(200, "requests per level", least=1)
    warmup: int = number(20, "warm-up requests per server start")
    latency_ms: float = number(20.0, "the sandbox's added latency")
    jitter_ms: float = number(0.0, "the sandbox's jitter")
    starts: int = number(3, "server starts; medians are reported", least=1)
    first: int = number(50, "conversations per page", least=1, most=100)
    database_url: str | None = text("default: a SQLite file in a temporary directory")
    sandbox_samples: int = number(150, "direct sandbox timings")
    max_seconds: float = number(60.0, "time bound per level")
    gc_tuned: bool = flag("start the server with gc.freeze() and a high GC threshold")
    # `path` is a dataclasses.field like the others; ruff only trusts calls for immutable types.
    profile: Path | None = path("run the server under cProfile, write its stats here (one start)")  # noqa: RUF009
    no_baseline: bool = flag("measure Switchboard only, without the stock Strawberry baseline")
    keep: bool = flag("keep the temporary directory (logs, database)")

    def __post_init__(self) -> None:
        if self.profile is not None:
            # One profile file is written per server process, so a profiled run has one start;
            # a server under cProfile is no term of a ratio.
            self.starts = 1
            self.profile = self.profile.resolve()
            self.no_baseline = True


def server_command(options: Options) -> list[str]:
    if options.profile is not None:
        return [sys.executable, "-c", PROFILED_SERVER, str(options.profile)]
    if options.gc_tuned:
        return [sys.executable, "-c", GC_TUNED_SERVER]
    return switchboard_command("serve")


async def measure_levels(
    name: str,
    options: Options,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    server: Process,
    sandbox_process: Process,
) -> list[LevelResult]:
    """One server start's warm-up, then `--requests` at each concurrency level."""
    await run_level(
        client,
        sandbox,
        server,
        sandbox_process,
        min(4, max(options.concurrency)),
        options.warmup,
        options.first,
        options.max_seconds,
    )
    results = []
    for level in options.concurrency:
        server.check_alive()
        result = await run_level(
            client,
            sandbox,
            server,
            sandbox_process,
            level,
            options.requests,
            options.first,
            options.max_seconds,
        )
        print(
            f"  {name} c={level:<3} {result.requests} req in {result.seconds:.1f} s: "
            f"{result.rps:.1f} req/s, p50 {result.p50:.1f} ms, p99 {result.p99:.1f} ms, "
            f"server CPU {result.server_cpu_ms_per_request:.1f} ms/req, cost {result.cost}",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    return results


async def record_page(client: httpx.AsyncClient, first: int, page_file: Path) -> None:
    """One Switchboard response to `PAGE`, written whole: the baseline's data."""
    payload = {"query": PAGE, "variables": {"first": first}}
    response = await client.post("/graphql", json=payload)
    if response.status_code != 200:
        raise BenchError(f"the server answered {response.status_code}: {response.text[:2000]}")
    check_page(response.content, first)
    await asyncio.to_thread(page_file.write_bytes, response.content)


async def one_start(
    options: Options,
    env: dict[str, str],
    workdir: Path,
    sandbox_process: Process,
    sandbox_url: str,
    token: str,
    index: int,
    page_file: Path | None,
) -> list[LevelResult]:
    """A Switchboard start; before its warm-up, its first response is written to `page_file`."""
    async with (
        harness.server_started(
            f"server-{index}",
            server_command(options),
            env,
            workdir,
            sandbox_url,
            grace=20.0 if options.profile else 5.0,
            SWITCHBOARD_REPORT_COST="1",
        ) as served,
        harness.load_client(
            served.url, options.concurrency, headers={"authorization": f"Bearer {token}"}
        ) as client,
        httpx.AsyncClient(base_url=sandbox_url, timeout=10.0) as sandbox,
    ):
        if page_file is not None:
            await record_page(client, options.first, page_file)
        return await measure_levels(
            f"start {index + 1}", options, client, sandbox, served.process, sandbox_process
        )


async def baseline_start(
    options: Options,
    env: dict[str, str],
    workdir: Path,
    sandbox_process: Process,
    sandbox_url: str,
    token: str,
    index: int,
    page_file: Path,
) -> list[LevelResult]:
    """A start of `bench.baseline` serving `page_file`, measured as `one_start` measures Switchboard.

    The same load client, headers included (the baseline ignores the token), and the sandbox still
    counted: it should count no request from the baseline.
    """
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = [
        sys.executable,
        "-m",
        "bench.baseline",
        "--port",
        str(port),
        "--page",
        str(page_file),
    ]
    # The processes run in the temporary directory: the baseline is found where this bench is.
    pythonpath = os.pathsep.join(filter(None, [str(BENCH_SOURCE), env.get("PYTHONPATH")]))
    baseline_env = dict(env, PYTHONPATH=pythonpath)
    with started(f"baseline-{index}", command, baseline_env, workdir) as process:
        await wait_until_ready(process, f"{url}/graphql?query=%7B__typename%7D")
        async with (
            harness.load_client(
                url, options.concurrency, headers={"authorization": f"Bearer {token}"}
            ) as client,
            httpx.AsyncClient(base_url=sandbox_url, timeout=10.0) as sandbox,
        ):
            return await measure_levels(
                f"baseline {index + 1}", options, client, sandbox, process, sandbox_process
            )


@dataclass(frozen=True)
class Baseline:
    page: dict[str, Any]  # the Switchboard response the baseline served
    starts: list[list[LevelResult]]


def page_shape(response: dict[str, Any]) -> str:
    """What a page holds, in the counts that make its size: for the baseline's data."""
    nodes = [edge["node"] for edge in response["data"]["conversations"]["edges"]]
    channels = Counter(node["channel"] for node in nodes)
    participants = [each for node in nodes for each in node["participants"]]
    matches = [each["crmMatch"] for each in participants if each["crmMatch"]]
    return (
        f"{len(nodes)} conversations ({', '.join(f'{n} {c}' for c, n in channels.most_common())}), "
        f"{len(participants)} participants ({sum(each['isSelf'] for each in participants)} of them the account itself), "
        f"{len(matches)} CRM matches ({sum(bool(m['contact'] or m['company']) for m in matches)} with a contact or company, "
        f"{sum(len(m['candidates']) for m in matches)} candidates), {sum(len(node['links']) for node in nodes)} links"
    )


def ratio(numerator: float, denominator: float) -> str:
    return fmt(numerator / denominator, 2) if denominator else "n/a"


def baseline_report(
    options: Options, starts: list[list[LevelResult]], baseline: Baseline
) -> list[str]:
    strawberry_version = importlib.metadata.version("strawberry-graphql")
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    lines = [
        "",
        f"Stock Strawberry baseline (`bench/baseline.py`: strawberry-graphql {strawberry_version}'s `strawberry.asgi.GraphQL` "
        f"under `uvicorn.run`'s defaults, here {loop} and {http}; a per-request DataLoader for the CRM matches; no database, "
        f"no UniPile, no token check). Its data, in memory, is start 1's first Switchboard response: {page_shape(baseline.page)}. "
        "Each Switchboard start was followed by a baseline start, measured with the same load client, levels and requests. "
        "Ratios are Switchboard's median over the baseline's median:",
        "",
        "| concurrency | baseline requests/s | baseline p50 ms | baseline p99 ms | baseline server CPU ms/request | baseline req/s per core | Switchboard/baseline server CPU per page | Switchboard/baseline p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for position, level in enumerate(options.concurrency):
        ours = [start[position] for start in starts if position < len(start)]
        theirs = [start[position] for start in baseline.starts if position < len(start)]
        cpu = median([r.server_cpu_ms_per_request for r in theirs])
        p99 = median([r.p99 for r in theirs])
        lines.append(
            f"| {level} | {fmt(median([r.rps for r in theirs]))} | {fmt(median([r.p50 for r in theirs]))} | {fmt(p99)} "
            f"| {fmt(cpu, 2)} | {fmt(1000 / cpu if cpu else float('nan'))} "
            f"| {ratio(median([r.server_cpu_ms_per_request for r in ours]), cpu)} | {ratio(median([r.p99 for r in ours]), p99)} |"
        )
    return lines


def start_line(name: str, result: LevelResult) -> str:
    return (
        f"- {name}, c={result.concurrency}: {fmt(result.rps)} req/s, {fmt(result.p50)} / {fmt(result.p99)} ms, "
        f"CPU {fmt(result.server_cpu_s, 2)} / {fmt(result.sandbox_cpu_s, 2)} / {fmt(result.client_cpu_s, 2)} / {fmt(max(0.0, result.other_cpu_s), 2)} s "
        f"over {fmt(result.seconds, 2)} s, RSS {fmt(result.server_rss_mb, 0)} MB"
        + (
            f", sandbox counted {fmt(result.upstream_per_request, 2)} req/request"
            if name.startswith("baseline")
            else ""
        )
    )


def report(
    options: Options,
    sandbox: SandboxLatency,
    starts: list[list[LevelResult]],
    baseline: Baseline | None,
    started_at: datetime,
    elapsed: float,
) -> str:
    from inbox.merge import EMAIL_WINDOW, chat_limit

    sandbox_p99 = percentile(sandbox.round_ms, 99)
    lines = [
        f"Inbox benchmark, {started_at:%Y-%m-%d %H:%M} UTC: `first: {options.first}` as alice (3 accounts), "
        f"sandbox latency {options.latency_ms:g} ms (jitter {options.jitter_ms:g} ms), "
        f"{options.requests} requests per level, medians over {len(starts)} server start(s)"
        + (", server GC-tuned (gc.freeze + threshold 50000)" if options.gc_tuned else "")
        + (", server under cProfile" if options.profile else "")
        + ".",
        "",
        f"Sandbox's own latency, timed directly over HTTP ({len(sandbox.round_ms)} samples, p50 / p99): "
        f"`GET /api/v1/chats` (limit {chat_limit(options.first)}) {fmt(percentile(sandbox.chats_ms, 50))} / {fmt(percentile(sandbox.chats_ms, 99))} ms; "
        f"`GET /api/v1/emails` (meta_only, limit {EMAIL_WINDOW}) {fmt(percentile(sandbox.emails_ms, 50))} / {fmt(percentile(sandbox.emails_ms, 99))} ms; "
        f"a page's three list calls (1 chats + 2 emails) concurrently {fmt(percentile(sandbox.round_ms, 50))} / {fmt(sandbox_p99)} ms. "
        '"Above sandbox p99" below is the server\'s p99 minus this last p99.',
        "",
        "| concurrency | requests/s | p50 ms | p99 ms | p99 above sandbox p99 (ms) | upstream req/request | db queries/request | server CPU ms/request | server req/s per core (1000/CPU ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for position, level in enumerate(options.concurrency):
        results = [start[position] for start in starts if position < len(start)]
        costs = {(r.cost.get("upstreamRequests"), r.cost.get("dbQueries")) for r in results}
        upstream = "/".join(str(c[0]) for c in sorted(costs, key=str))
        queries = "/".join(str(c[1]) for c in sorted(costs, key=str))
        counted = median([r.upstream_per_request for r in results])
        cpu = median([r.server_cpu_ms_per_request for r in results])
        p99 = median([r.p99 for r in results])
        lines.append(
            f"| {level} | {fmt(median([r.rps for r in results]))} | {fmt(median([r.p50 for r in results]))} | {fmt(p99)} "
            f"| {fmt(p99 - sandbox_p99)} | {upstream} (sandbox counted {fmt(counted, 2)}) | {queries} | {fmt(cpu, 2)} | {fmt(1000 / cpu if cpu else float('nan'))} |"
        )
    if baseline is not None:
        lines += baseline_report(options, starts, baseline)
    lines += [
        "",
        "Per start (requests/s, p50 / p99 ms, CPU seconds used by server / sandbox / load client / other processes on the machine, server RSS), in the order run:",
        "",
    ]
    for index, start in enumerate(starts):
        lines += [start_line(f"start {index + 1}", result) for result in start]
        if baseline is not None:
            lines += [
                start_line(f"baseline start {index + 1}", result)
                for result in baseline.starts[index]
            ]
    lines += ["", harness.machine_line("load client", elapsed)]
    return "\n".join(lines)


async def run(options: Options) -> str:
    with harness.prepared(
        "switchboard-bench-", options.keep, USER_EMAIL, options.database_url
    ) as prepared:
        env, workdir = prepared.env, prepared.workdir
        faults = {"latency_ms": options.latency_ms, "jitter_ms": options.jitter_ms}
        async with harness.sandbox_started(env, workdir, faults) as (sandbox_process, sandbox_url):
            sandbox = await measure_sandbox(
                sandbox_url, options.first, options.sandbox_samples, max_seconds=30
            )
            print(
                f"sandbox: p50 {percentile(sandbox.round_ms, 50):.1f} ms, p99 {percentile(sandbox.round_ms, 99):.1f} ms per page's calls",
                file=sys.stderr,
                flush=True,
            )
            page_file = workdir / "switchboard-page.json"
            starts, baseline_starts = [], []
            for index in range(options.starts):
                record = index == 0 and not options.no_baseline
                starts.append(
                    await one_start(
                        options,
                        env,
                        workdir,
                        sandbox_process,
                        sandbox_url,
                        prepared.token,
                        index,
                        page_file if record else None,
                    )
                )
                if not options.no_baseline:
                    baseline_starts.append(
                        await baseline_start(
                            options,
                            env,
                            workdir,
                            sandbox_process,
                            sandbox_url,
                            prepared.token,
                            index,
                            page_file,
                        )
                    )
            baseline = (
                Baseline(
                    orjson.loads(await asyncio.to_thread(page_file.read_bytes)), baseline_starts
                )
                if baseline_starts
                else None
            )
        if options.profile is not None and not options.profile.exists():
            print(f"warning: no profile written to {options.profile}", file=sys.stderr)
        return report(options, sandbox, starts, baseline, prepared.started_at, prepared.elapsed())


def main(argv: Sequence[str] | None = None) -> int:
    return harness.main(run, Options, argv, prog="python -m bench.inbox", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())

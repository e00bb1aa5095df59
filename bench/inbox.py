"""The inbox benchmark: the 50-conversation inbox page, end to end, over a fixed-latency sandbox.

    python -m bench.inbox                      # or: make bench
    python -m bench.inbox --concurrency 1,8 --requests 500 --starts 5 --latency-ms 50

What it does (see docs/benchmarks.md):

1. a temporary data dir and SQLite database, filled by `switchboard migrate` and `seed-demo`;
2. a sandbox process (`switchboard sandbox`) with `latency_ms` set through `POST /_sandbox/faults`,
   and the sandbox's own latency for the upstream calls one inbox page makes, timed directly;
3. for each of `--starts` starts, two Switchboard servers one after the other, each a
   `switchboard serve` against that sandbox with `SWITCHBOARD_REPORT_COST=1` and
   `LOG_LEVEL=WARNING`: the COLD page's (`LIVE_CACHE_SECONDS=0`: every page reads UniPile) and the
   WARM page's (the live cache as shipped: repeated pages are served from it). Each has a warm-up,
   then, at each concurrency level, `--requests` inbox queries sent by that many concurrent
   workers, each latency recorded, the cost read from `extensions.cost`, and the CPU time the
   server, the sandbox and this client used;
4. in the first warm start, after its levels, `--memory-requests` more pages, the server's RSS read
   from /proc every `--memory-every` of them (with `--tracemalloc PATH`, that server traces its
   allocations and writes the growth between the first and last reading to PATH);
5. unless `--no-baseline`, after each start's Switchboard servers, a start of the stock Strawberry
   baseline (`bench.baseline`) serving, from memory, the first Switchboard response of the run,
   measured the same way at the same levels: starts alternate, so that the machine's noise hits all
   alike;
6. a Markdown table per page of the medians over the starts with the ratios Switchboard/baseline,
   the baseline's table, the memory readings, issue 15's targets met or not, the per-start numbers,
   and the machine.

Process handling and bounds: `bench._harness`.
"""

# The GraphQL selection and the report's Markdown lines are kept whole, for grep.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import signal
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
# Alice's accounts in the demo data (README, "Demo data"): two mailboxes, the shared LinkedIn and
# her WhatsApp. A page of hers makes one list call to each (the sandbox's /_sandbox/stats/accounts).
ALICE_EMAIL_ACCOUNTS = ("acc_gmail_demo_000001", "acc_outlook_demo_00001")
ALICE_CHAT_ACCOUNTS = ("acc_linkedin_demo_0001", "acc_whatsapp_demo_0002")
ALICE_ACCOUNTS = len(ALICE_EMAIL_ACCOUNTS) + len(ALICE_CHAT_ACCOUNTS)
COLD, WARM = "cold", "warm"

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

# `--tracemalloc PATH`: the server traces its allocations; each SIGUSR1 takes a snapshot and writes
# to PATH the growth since the first, by line (largest first): the bench waits for each write.
TRACED_SERVER = """
import os, signal, sys, tracemalloc
from server.cli import main
tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1")))
snapshots = []
def snapshot(signum, frame):
    snapshots.append(tracemalloc.take_snapshot())
    grown = snapshots[-1].compare_to(snapshots[0], "lineno")
    lines = [f"{stat.size_diff / 1024:+.1f} KiB in {stat.count_diff:+d} blocks: {stat.traceback}" for stat in grown[:40]]
    total = sum(stat.size_diff for stat in grown) / 1024
    with open(os.environ["BENCH_TRACEMALLOC"], "w") as out:
        out.write(f"traced memory grown {total:+.1f} KiB between snapshots 1 and {len(snapshots)}\\n" + "\\n".join(lines) + "\\n")
signal.signal(signal.SIGUSR1, snapshot)
sys.exit(main(["serve"]))
"""


# --- the sandbox's own latency ---------------------------------------------------------------


@dataclass
class SandboxLatency:
    chats_ms: list[float] = field(
        default_factory=list
    )  # one `GET /api/v1/chats?account_id=...&limit=51`
    emails_ms: list[float] = field(
        default_factory=list
    )  # one `GET /api/v1/emails?...&meta_only=true&limit=200`
    round_ms: list[float] = field(default_factory=list)  # a page's list calls, concurrently


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


# --- memory under steady load ------------------------------------------------------------------


@dataclass
class MemoryRun:
    concurrency: int
    every: int
    requests: int
    rss_mb: list[float]  # before the first page, then after every `every` pages
    seconds: float
    server_cpu_s: float

    @property
    def growth_percent(self) -> float:
        return (self.rss_mb[-1] - self.rss_mb[0]) * 100 / self.rss_mb[0]

    @property
    def peak_growth_percent(self) -> float:
        """Flat means no reading more than 5% above the first, the last included."""
        return (max(self.rss_mb) - self.rss_mb[0]) * 100 / self.rss_mb[0]


async def memory_run(
    options: Options,
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    server: Process,
    sandbox_process: Process,
) -> MemoryRun:
    """`--memory-requests` pages after the levels, the server's RSS read every `--memory-every`."""
    concurrency = min(4, max(options.concurrency))
    rss = [server.rss_mb()]
    await take_snapshot(options, server)
    done, seconds, cpu = 0, 0.0, 0.0
    while done < options.memory_requests:
        server.check_alive()
        chunk = min(options.memory_every, options.memory_requests - done)
        result = await run_level(
            client,
            sandbox,
            server,
            sandbox_process,
            concurrency,
            chunk,
            options.first,
            options.max_seconds,
        )
        done, seconds, cpu = (
            done + result.requests,
            seconds + result.seconds,
            cpu + result.server_cpu_s,
        )
        rss.append(server.rss_mb())
        if result.requests < chunk:  # --max-seconds ran out
            break
    await take_snapshot(options, server)
    run = MemoryRun(concurrency, options.memory_every, done, rss, seconds, cpu)
    print(
        f"  memory: {done} pages at c={concurrency} in {seconds:.1f} s, RSS {rss[0]:.1f} -> {rss[-1]:.1f} MB "
        f"(max {max(rss):.1f}, {run.growth_percent:+.1f}%)",
        file=sys.stderr,
        flush=True,
    )
    return run


async def take_snapshot(options: Options, server: Process) -> None:
    """With `--tracemalloc`, a snapshot in the server, once it has written what it took."""
    if options.tracemalloc is None:
        return
    written = options.tracemalloc.read_text() if options.tracemalloc.exists() else ""
    os.kill(server.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        if options.tracemalloc.exists() and options.tracemalloc.read_text() != written:
            return
    raise BenchError(f"the traced server wrote nothing to {options.tracemalloc} in 120 s")


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Options:
    invalid: ClassVar[str] = (
        "concurrency levels, --requests, --starts and --memory-every must be positive; "
        "--first from 1 to 100"
    )
    concurrency: tuple[int, ...] = levels("1,4")
    requests: int = number(150, "requests per level", least=1)
    warmup: int = number(20, "warm-up requests per server start")
    latency_ms: float = number(20.0, "the sandbox's added latency")
    jitter_ms: float = number(0.0, "the sandbox's jitter")
    starts: int = number(
        2, "starts (a cold server, a warm one, the baseline); medians are reported", least=1
    )
    first: int = number(50, "conversations per page", least=1, most=100)
    memory_requests: int = number(
        10_000,
        "warm pages after the levels of the first warm start, RSS read meanwhile; 0: none",
        least=0,
    )
    memory_every: int = number(500, "pages between RSS readings", least=1)
    database_url: str | None = text("default: a SQLite file in a temporary directory")
    sandbox_samples: int = number(150, "direct sandbox timings")
    max_seconds: float = number(60.0, "time bound per level")
    gc_tuned: bool = flag("start the servers with gc.freeze() and a high GC threshold")
    # `path` is a dataclasses.field like the others; ruff only trusts calls for immutable types.
    profile: Path | None = path("servers under cProfile, stats in PATH-cold, PATH-warm")  # noqa: RUF009
    tracemalloc: Path | None = path("trace the memory run's server, its growth to PATH")  # noqa: RUF009
    no_baseline: bool = flag("measure Switchboard only, without the stock Strawberry baseline")
    keep: bool = flag("keep the temporary directory (logs, database)")

    def __post_init__(self) -> None:
        if self.profile is not None:
            # One profile file is written per server process, so a profiled run has one start;
            # a server under cProfile is no term of a ratio.
            self.starts = 1
            self.profile = self.profile.resolve()
            self.no_baseline = True
        if self.tracemalloc is not None:
            self.tracemalloc = self.tracemalloc.resolve()


def profile_path(profile: Path, page: str) -> Path:
    return profile.with_name(f"{profile.stem}-{page}{profile.suffix}")


def server_command(options: Options, page: str, traced: bool) -> list[str]:
    if options.profile is not None:
        return [
            sys.executable,
            "-c",
            harness.PROFILED_SERVER,
            str(profile_path(options.profile, page)),
        ]
    if traced:
        return [sys.executable, "-c", TRACED_SERVER]
    if options.gc_tuned:
        return [sys.executable, "-c", GC_TUNED_SERVER]
    return switchboard_command("serve")


def live_cache_seconds(page: str) -> str:
    """`LIVE_CACHE_SECONDS`. COLD: every page reads UniPile. WARM: the live cache as shipped,
    whatever this shell sets."""
    from inbox.live_cache import DEFAULT_TTL_SECONDS

    return "0" if page == COLD else f"{DEFAULT_TTL_SECONDS:g}"


@dataclass(frozen=True)
class Bench:
    """What every start of a run shares."""

    options: Options
    env: dict[str, str]
    workdir: Path
    sandbox_process: Process
    sandbox_url: str
    token: str


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
            f"server CPU {result.server_cpu_ms_per_request:.1f} ms/req, cost {result.cost}, "
            f"sandbox counted {result.upstream_per_request:.2f}/req",
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
    bench: Bench, index: int, page: str, page_file: Path | None, memory: bool
) -> tuple[list[LevelResult], MemoryRun | None]:
    """A Switchboard start serving `page`; before its warm-up, its first response is written to
    `page_file`; after its levels, with `memory`, the memory run."""
    options = bench.options
    traced = memory and options.tracemalloc is not None
    async with (
        harness.server_started(
            f"server-{index}-{page}",
            server_command(options, page, traced),
            bench.env,
            bench.workdir,
            bench.sandbox_url,
            grace=20.0 if options.profile else 5.0,
            LIVE_CACHE_SECONDS=live_cache_seconds(page),
            SWITCHBOARD_REPORT_COST="1",
            # Read only by TRACED_SERVER.
            BENCH_TRACEMALLOC=str(options.tracemalloc) if traced else "",
        ) as served,
        harness.load_client(
            served.url, options.concurrency, headers={"authorization": f"Bearer {bench.token}"}
        ) as client,
        httpx.AsyncClient(base_url=bench.sandbox_url, timeout=10.0) as sandbox,
    ):
        if page_file is not None:
            await record_page(client, options.first, page_file)
        results = await measure_levels(
            f"start {index + 1} {page}",
            options,
            client,
            sandbox,
            served.process,
            bench.sandbox_process,
        )
        if not memory:
            return results, None
        return results, await memory_run(
            options, client, sandbox, served.process, bench.sandbox_process
        )


async def baseline_start(bench: Bench, index: int, page_file: Path) -> list[LevelResult]:
    """A start of `bench.baseline` serving `page_file`, measured as `one_start` measures Switchboard.

    The same load client, headers included (the baseline ignores the token), and the sandbox still
    counted: it should count no request from the baseline.
    """
    options = bench.options
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
    pythonpath = os.pathsep.join(filter(None, [str(BENCH_SOURCE), bench.env.get("PYTHONPATH")]))
    baseline_env = dict(bench.env, PYTHONPATH=pythonpath)
    with started(f"baseline-{index}", command, baseline_env, bench.workdir) as process:
        await wait_until_ready(process, f"{url}/graphql?query=%7B__typename%7D")
        async with (
            harness.load_client(
                url, options.concurrency, headers={"authorization": f"Bearer {bench.token}"}
            ) as client,
            httpx.AsyncClient(base_url=bench.sandbox_url, timeout=10.0) as sandbox,
        ):
            return await measure_levels(
                f"baseline {index + 1}", options, client, sandbox, process, bench.sandbox_process
            )


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """A run's results: per start, the levels of the cold and warm Switchboard and the baseline."""

    sandbox: SandboxLatency
    cold: list[list[LevelResult]]
    warm: list[list[LevelResult]]
    baseline: list[list[LevelResult]]
    baseline_page: dict[str, Any] | None  # the Switchboard response the baseline served
    memory: MemoryRun | None

    @property
    def sandbox_p99(self) -> float:
        return percentile(self.sandbox.round_ms, 99)

    def pages(self) -> dict[str, list[list[LevelResult]]]:
        return {COLD: self.cold, WARM: self.warm}


@dataclass(frozen=True)
class Medians:
    """The medians over the starts at one level."""

    results: list[LevelResult]

    @property
    def rps(self) -> float:
        return median([r.rps for r in self.results])

    @property
    def p50(self) -> float:
        return median([r.p50 for r in self.results])

    @property
    def p99(self) -> float:
        return median([r.p99 for r in self.results])

    @property
    def cpu_ms(self) -> float:
        return median([r.server_cpu_ms_per_request for r in self.results])

    @property
    def counted(self) -> float:
        return median([r.upstream_per_request for r in self.results])

    def cost(self, key: str) -> str:
        return "/".join(sorted({str(r.cost.get(key)) for r in self.results}))


def at_level(starts: list[list[LevelResult]], position: int) -> Medians:
    return Medians([start[position] for start in starts if position < len(start)])


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
    return fmt(numerator / denominator, 2) if denominator == denominator and denominator else "n/a"


def sandbox_line(options: Options, sandbox: SandboxLatency, sandbox_p99: float) -> str:
    from inbox.merge import EMAIL_WINDOW, chat_limit

    calls = len(ALICE_CHAT_ACCOUNTS) + len(ALICE_EMAIL_ACCOUNTS)
    return (
        f"Sandbox's own latency, timed directly over HTTP ({len(sandbox.round_ms)} samples, p50 / p99): "
        f"`GET /api/v1/chats` (limit {chat_limit(options.first)}) {fmt(percentile(sandbox.chats_ms, 50))} / {fmt(percentile(sandbox.chats_ms, 99))} ms; "
        f"`GET /api/v1/emails` (meta_only, limit {EMAIL_WINDOW}) {fmt(percentile(sandbox.emails_ms, 50))} / {fmt(percentile(sandbox.emails_ms, 99))} ms; "
        f"a page's {calls} list calls ({len(ALICE_CHAT_ACCOUNTS)} chats + {len(ALICE_EMAIL_ACCOUNTS)} emails, one per account) concurrently "
        f"{fmt(percentile(sandbox.round_ms, 50))} / {fmt(sandbox_p99)} ms. "
        '"Above sandbox p99" below is the server\'s p99 minus this last p99.'
    )


PAGE_TITLES = {
    COLD: "**Cold page** (server started with `LIVE_CACHE_SECONDS=0`: every page reads UniPile)",
    WARM: "**Warm page** (the live cache as shipped: after the first, pages are served from it)",
}


def page_table(options: Options, measured: Measured, page: str) -> list[str]:
    lines = [
        "",
        PAGE_TITLES[page] + ":",
        "",
        "| concurrency | requests/s | p50 ms | p99 ms | p99 above sandbox p99 (ms) | upstream req/request | db queries/request | server CPU ms/page | server pages/s per core | CPU / baseline | p99 / baseline |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for position, level in enumerate(options.concurrency):
        ours, theirs = (
            at_level(measured.pages()[page], position),
            at_level(measured.baseline, position),
        )
        lines.append(
            f"| {level} | {fmt(ours.rps)} | {fmt(ours.p50)} | {fmt(ours.p99)} | {fmt(ours.p99 - measured.sandbox_p99)} "
            f"| {ours.cost('upstreamRequests')} (sandbox counted {fmt(ours.counted, 2)}) | {ours.cost('dbQueries')} "
            f"| {fmt(ours.cpu_ms, 2)} | {fmt(1000 / ours.cpu_ms if ours.cpu_ms else float('nan'))} "
            f"| {ratio(ours.cpu_ms, theirs.cpu_ms)} | {ratio(ours.p99, theirs.p99)} |"
        )
    return lines


def baseline_table(options: Options, measured: Measured) -> list[str]:
    strawberry_version = importlib.metadata.version("strawberry-graphql")
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    assert measured.baseline_page is not None
    lines = [
        "",
        f"**Stock Strawberry baseline** (`bench/baseline.py`: strawberry-graphql {strawberry_version}'s `strawberry.asgi.GraphQL` "
        f"under `uvicorn.run`'s defaults, here {loop} and {http}; a per-request DataLoader for the CRM matches; no database, "
        f"no UniPile, no token check). Its data, in memory, is start 1's first cold Switchboard response: {page_shape(measured.baseline_page)}. "
        "Each start's two Switchboard servers were followed by a baseline start, measured with the same load client, levels and requests. "
        "The ratios above are Switchboard's median over the baseline's median:",
        "",
        "| concurrency | baseline requests/s | baseline p50 ms | baseline p99 ms | baseline server CPU ms/page | baseline pages/s per core |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for position, level in enumerate(options.concurrency):
        theirs = at_level(measured.baseline, position)
        lines.append(
            f"| {level} | {fmt(theirs.rps)} | {fmt(theirs.p50)} | {fmt(theirs.p99)} "
            f"| {fmt(theirs.cpu_ms, 2)} | {fmt(1000 / theirs.cpu_ms if theirs.cpu_ms else float('nan'))} |"
        )
    return lines


def memory_lines(memory: MemoryRun) -> list[str]:
    rss = memory.rss_mb
    return [
        "",
        f"**Memory** (the warm server of start 1, after its levels): {memory.requests} pages at concurrency {memory.concurrency} "
        f"in {fmt(memory.seconds)} s ({fmt(memory.server_cpu_s * 1000 / max(1, memory.requests), 2)} ms server CPU/page); "
        f"server RSS (VmRSS) before them and after every {memory.every}: first {fmt(rss[0])} MB, last {fmt(rss[-1])} MB, "
        f"max {fmt(max(rss))} MB, growth {memory.growth_percent:+.1f}% (last over first). "
        f"Readings (MB): {', '.join(fmt(each, 0) for each in rss)}.",
    ]


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def targets_table(options: Options, measured: Measured) -> list[str]:
    """Issue 15's targets this benchmark measures, each met or not by the medians above."""
    positions = list(enumerate(options.concurrency))
    one = options.concurrency.index(1) if 1 in options.concurrency else None
    rows: list[tuple[str, str, bool | None]] = []

    cold_ratios = [
        (level, at_level(measured.cold, p).cpu_ms / at_level(measured.baseline, p).cpu_ms)
        for p, level in positions
        if measured.baseline
    ]
    rows.append(
        (
            "cold page: server CPU <= 1/3 of the baseline's per page",
            ", ".join(f"c={level}: {fmt(value, 2)}" for level, value in cold_ratios)
            or "no baseline (`--no-baseline`)",
            all(value <= 1 / 3 for _, value in cold_ratios) if cold_ratios else None,
        )
    )
    if one is None:
        rows.append(
            (
                "cold page: p99 <= sandbox p99 + 10 ms at concurrency 1",
                "no concurrency 1 level",
                None,
            )
        )
    else:
        above = at_level(measured.cold, one).p99 - measured.sandbox_p99
        rows.append(
            (
                "cold page: p99 <= sandbox p99 + 10 ms at concurrency 1",
                f"{fmt(at_level(measured.cold, one).p99)} ms, {above:+.1f} ms above the sandbox's {fmt(measured.sandbox_p99)}",
                above <= 10,
            )
        )
    warm_cpu = [(level, at_level(measured.warm, p).cpu_ms) for p, level in positions]
    rows.append(
        (
            "warm page: server CPU <= 3 ms per page",
            ", ".join(f"c={level}: {fmt(value, 2)} ms" for level, value in warm_cpu),
            all(value <= 3 for _, value in warm_cpu),
        )
    )
    if one is None:
        rows.append(("warm page: p99 <= 5 ms at concurrency 1", "no concurrency 1 level", None))
    else:
        warm_p99 = at_level(measured.warm, one).p99
        rows.append(
            ("warm page: p99 <= 5 ms at concurrency 1", f"{fmt(warm_p99)} ms", warm_p99 <= 5)
        )
    memory = measured.memory
    if memory is None:
        rows.append(
            (
                "RSS flat (within 5%) over 10,000 requests after warm-up",
                "not run (`--memory-requests 0`)",
                None,
            )
        )
    else:
        rows.append(
            (
                "RSS flat (within 5%) over 10,000 requests after warm-up",
                f"{memory.growth_percent:+.1f}% last over first, {memory.peak_growth_percent:+.1f}% max over first, over {memory.requests} warm pages ({fmt(memory.rss_mb[0])} -> {fmt(memory.rss_mb[-1])} MB, max {fmt(max(memory.rss_mb))})",
                memory.peak_growth_percent <= 5 if memory.requests >= 10_000 else None,
            )
        )
    return [
        "",
        "**Issue 15's targets** measured here (the subscription and webhook targets: `bench.realtime`):",
        "",
        "| target | measured (medians) | |",
        "|---|---|---|",
        *(f"| {target} | {value} | {verdict(met)} |" for target, value, met in rows),
    ]


def start_line(name: str, result: LevelResult) -> str:
    return (
        f"- {name}, c={result.concurrency}: {fmt(result.rps)} req/s, {fmt(result.p50)} / {fmt(result.p99)} ms, "
        f"CPU {fmt(result.server_cpu_s, 2)} / {fmt(result.sandbox_cpu_s, 2)} / {fmt(result.client_cpu_s, 2)} / {fmt(max(0.0, result.other_cpu_s), 2)} s "
        f"over {fmt(result.seconds, 2)} s, RSS {fmt(result.server_rss_mb, 0)} MB, "
        f"sandbox counted {fmt(result.upstream_per_request, 2)} req/request"
    )


def report(options: Options, measured: Measured, started_at: datetime, elapsed: float) -> str:
    lines = [
        f"Inbox benchmark, {started_at:%Y-%m-%d %H:%M} UTC: `first: {options.first}` as alice ({ALICE_ACCOUNTS} accounts), "
        f"sandbox latency {options.latency_ms:g} ms (jitter {options.jitter_ms:g} ms), "
        f"{options.requests} requests per level, medians over {len(measured.cold)} start(s) of a cold and a warm server"
        + ("" if options.no_baseline else " and the baseline")
        + (", servers GC-tuned (gc.freeze + threshold 50000)" if options.gc_tuned else "")
        + (", servers under cProfile" if options.profile else "")
        + (", memory run's server under tracemalloc" if options.tracemalloc else "")
        + ".",
        "",
        sandbox_line(options, measured.sandbox, measured.sandbox_p99),
    ]
    lines += page_table(options, measured, COLD)
    lines += page_table(options, measured, WARM)
    if measured.baseline_page is not None:
        lines += baseline_table(options, measured)
    if measured.memory is not None:
        lines += memory_lines(measured.memory)
    lines += targets_table(options, measured)
    lines += [
        "",
        "Per start (requests/s, p50 / p99 ms, CPU seconds used by server / sandbox / load client / other processes on the machine, server RSS), in the order run:",
        "",
    ]
    for index in range(len(measured.cold)):
        for name, starts in (
            ("cold", measured.cold),
            ("warm", measured.warm),
            ("baseline", measured.baseline),
        ):
            if index < len(starts):
                lines += [
                    start_line(f"start {index + 1} {name}", result) for result in starts[index]
                ]
    lines += ["", harness.machine_line("load client", elapsed)]
    return "\n".join(lines)


async def run(options: Options) -> str:
    with harness.prepared(
        "switchboard-bench-", options.keep, USER_EMAIL, options.database_url
    ) as prepared:
        faults = {"latency_ms": options.latency_ms, "jitter_ms": options.jitter_ms}
        async with harness.sandbox_started(prepared.env, prepared.workdir, faults) as (
            sandbox_process,
            sandbox_url,
        ):
            sandbox = await measure_sandbox(
                sandbox_url, options.first, options.sandbox_samples, max_seconds=30
            )
            print(
                f"sandbox: p50 {percentile(sandbox.round_ms, 50):.1f} ms, p99 {percentile(sandbox.round_ms, 99):.1f} ms per page's calls",
                file=sys.stderr,
                flush=True,
            )
            bench = Bench(
                options,
                prepared.env,
                prepared.workdir,
                sandbox_process,
                sandbox_url,
                prepared.token,
            )
            page_file = prepared.workdir / "switchboard-page.json"
            pages: dict[str, list[list[LevelResult]]] = {COLD: [], WARM: []}
            baseline: list[list[LevelResult]] = []
            memory = None
            for index in range(options.starts):
                for page in (COLD, WARM):
                    record = index == 0 and page == COLD and not options.no_baseline
                    measure_memory = index == 0 and page == WARM and options.memory_requests > 0
                    results, memory_now = await one_start(
                        bench, index, page, page_file if record else None, measure_memory
                    )
                    pages[page].append(results)
                    memory = memory or memory_now
                if not options.no_baseline:
                    baseline.append(await baseline_start(bench, index, page_file))
            baseline_page = (
                orjson.loads(await asyncio.to_thread(page_file.read_bytes)) if baseline else None
            )
        if options.profile is not None:
            for page in (COLD, WARM):
                if not profile_path(options.profile, page).exists():
                    print(
                        f"warning: no profile written to {profile_path(options.profile, page)}",
                        file=sys.stderr,
                    )
        measured = Measured(sandbox, pages[COLD], pages[WARM], baseline, baseline_page, memory)
        return report(options, measured, prepared.started_at, prepared.elapsed())


def main(argv: Sequence[str] | None = None) -> int:
    return harness.main(run, Options, argv, prog="python -m bench.inbox", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())

"""The real-time benchmark: webhook acknowledgement latency, and 1,000 live subscribers' memory.

    python -m bench.realtime
    python -m bench.realtime --webhooks 1000 --concurrency 1,8,32 --subscribers 2000

What it does (see docs/benchmarks.md):

1. a temporary data dir and SQLite database, filled by `switchboard migrate` and `seed-demo`, a
   token for bob (he owns the WhatsApp account), a sandbox process (`switchboard sandbox`), and
   one real message per webhook to send, posted to the sandbox's WhatsApp chats through
   `POST /_sandbox/messages` before any webhook is registered (so the sandbox delivers none);
2. `switchboard serve` against that sandbox. Webhook acknowledgement: at each concurrency level,
   `--webhooks` POSTs to `/webhooks/unipile`, each with a distinct real message id (so each is a
   new receipt, processed in the background with real UniPile reads), the latency of each 200
   recorded (by a lean keep-alive client whose own work is a few tens of microseconds a request;
   `--httpx-client`: httpx, as before 2026-12-04); then as many deliveries of one id already recorded (the duplicate path). Between runs
   the background processing is left to finish (the pending receipts in the database reach 0),
   and the script reports how long that took and the server's CPU time;
3. `switchboard webhooks register` with `PUBLIC_URL` set to the server, then `--subscribers`
   WebSocket subscriptions (graphql-transport-ws, `messageReceived`) opened in batches from this
   process, the server's RSS (VmRSS) read before and after; then `--warmup-deliveries` and
   `--deliveries` messages posted to the sandbox one after the other, which delivers the webhook to
   the server, and for each the time from the post until each subscriber received it. The warm-up
   message is reported but not judged: it is the first frame every client socket parses and the
   sandbox's first delivery to the server (a new connection), both about 20 ms slower, neither of
   them the server's work;
4. Markdown tables and the machine.

Process handling and bounds: `bench._harness`.
"""

# The report's Markdown lines are kept whole, for grep.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Protocol

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from bench import _harness as harness
from bench._harness import SANDBOX_KEY, WEBHOOK_SECRET, flag, levels, number, path
from bench._processes import (
    BenchError,
    Process,
    fmt,
    machine_busy_seconds,
    percentile,
    run_command,
    switchboard_command,
)

USER_EMAIL = "bob@demo.switchboard.test"
ACCOUNT = "acc_whatsapp_demo_0001"  # bob's WhatsApp account in the demo data
WEBHOOK_PATH = "/webhooks/unipile"
AUTH_HEADER = "Unipile-Auth"
SUBSCRIPTION = "subscription { messageReceived { message { text } } }"
DELIVERY_MARKER = "bench-realtime-delivery-"


# --- options ---------------------------------------------------------------------------------


@dataclass
class Options:
    invalid: ClassVar[str] = (
        "counts must be positive (--warmup, --duplicates, --subscribers may be 0)"
    )
    webhooks: int = number(500, "distinct webhooks per level", least=1)
    concurrency: tuple[int, ...] = levels("1,8")
    warmup: int = number(50, "warm-up webhooks before the levels", least=0)
    duplicates: int = number(500, "deliveries of one recorded id per level; 0: none", least=0)
    subscribers: int = number(1000, "WebSocket subscriptions", least=0)
    batch: int = number(50, "subscriptions opened at once", least=1)
    deliveries: int = number(3, "messages delivered to all subscribers", least=0)
    warmup_deliveries: int = number(
        1, "messages delivered to all subscribers first, reported but not judged", least=0
    )
    latency_ms: float = number(0.0, "the sandbox's added latency")
    max_seconds: float = number(
        60.0, "time bound per step: a level, a drain, opening the subscribers"
    )
    # `path` is a dataclasses.field like the others; ruff only trusts calls for immutable types.
    profile: Path | None = path("run the server under cProfile, write its stats here")  # noqa: RUF009
    keep: bool = flag("keep the temporary directory (logs, database)")
    httpx_client: bool = flag(
        "send the webhooks with httpx, as runs before 2026-12-04 did, not the lean client"
    )

    def __post_init__(self) -> None:
        if self.profile is not None:
            self.profile = self.profile.resolve()


# Issue 15's real-time targets.
DELIVERY_P99_MS = 100.0
ACK_P99_MS = 10.0
ACK_CONCURRENCY = 8
SUBSCRIBERS = 1000


# --- the sandbox's messages ------------------------------------------------------------------


async def whatsapp_chats(sandbox: httpx.AsyncClient) -> list[str]:
    response = await sandbox.get(
        "/api/v1/chats",
        params={"account_id": ACCOUNT, "limit": "50"},
        headers={"X-API-KEY": SANDBOX_KEY},
    )
    response.raise_for_status()
    chats = [str(item["id"]) for item in response.json()["items"]]
    if not chats:
        raise BenchError(f"the sandbox has no chats for {ACCOUNT}")
    return chats


async def post_message(sandbox: httpx.AsyncClient, chat_id: str, text: str) -> str:
    response = await sandbox.post(
        "/_sandbox/messages", json={"account_id": ACCOUNT, "chat_id": chat_id, "text": text}
    )
    if response.status_code != 201:
        raise BenchError(
            f"POST /_sandbox/messages answered {response.status_code}: {response.text[:500]}"
        )
    return str(response.json()["id"])


# --- webhook acknowledgement -----------------------------------------------------------------


@dataclass
class Sent:
    """What the client saw of one run of webhooks."""

    seconds: float
    latencies_ms: list[float]
    statuses: dict[str, int]


@dataclass
class AckRun:
    name: str  # "distinct" or "duplicate"
    concurrency: int
    sent: Sent
    server_cpu_s: float  # during the run
    drain_s: float  # from the end of the run until no receipt was pending
    server_cpu_drained_s: float  # during the run and the drain
    other_cpu_s: float  # every other process on the machine, during the run (this client included)

    @property
    def requests(self) -> int:
        return len(self.sent.latencies_ms)

    @property
    def rate(self) -> float:
        return self.requests / self.sent.seconds

    def cpu_ms(self, seconds: float) -> float:
        return seconds * 1000 / max(1, self.requests)


def webhook_body(chat_id: str, message_id: str) -> bytes:
    return orjson.dumps(
        {
            "event": "message_received",
            "account_id": ACCOUNT,
            "account_type": "WHATSAPP",
            "chat_id": chat_id,
            "message_id": message_id,
            "webhook_name": "switchboard-messaging",
        }
    )


def receipts_by_state(database: Path) -> dict[str, int]:
    with contextlib.closing(
        sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    ) as connection:
        rows = connection.execute(
            "SELECT state, count(*) FROM webhook_receipt GROUP BY state"
        ).fetchall()
    return {str(state): int(count) for state, count in rows}


async def drain(database: Path, server: Process, max_seconds: float) -> float:
    """Wait until the server has processed every receipt; the seconds it took."""
    start = time.perf_counter()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        server.check_alive()
        if receipts_by_state(database).get("PENDING", 0) == 0:
            return time.perf_counter() - start
        await asyncio.sleep(0.05)
    raise BenchError(
        f"receipts still pending after {max_seconds:.0f} s: {receipts_by_state(database)}"
    )


class Poster(Protocol):
    async def post(self, worker: int, body: bytes) -> tuple[int, bytes]:
        """POST `body` to the webhook as worker `worker`; the status and the response body."""


class HttpxPoster:
    """httpx's keep-alive pool, as UniPile-like clients use: about 1 ms of the client's CPU per
    request, which at concurrency 8 on two cores is much of the latency it measures."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, worker: int, body: bytes) -> tuple[int, bytes]:
        # No Content-Type: UniPile sends only its registered headers.
        response = await self.client.post(
            WEBHOOK_PATH, content=body, headers={AUTH_HEADER: WEBHOOK_SECRET}
        )
        return response.status_code, response.content


IDLE_SECONDS = 1.0


class RawPoster:
    """One keep-alive HTTP/1.1 connection per worker, written and read by hand: the client's own
    work per request is a few tens of microseconds, so the latency is the server's."""

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"{AUTH_HEADER}: {WEBHOOK_SECRET}\r\nContent-Length: "
        ).encode()
        self.connections: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self.used: dict[int, float] = {}

    async def post(self, worker: int, body: bytes) -> tuple[int, bytes]:
        reader, writer = await self._connection(worker)
        writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        content = await reader.readexactly(length)
        self.used[worker] = time.monotonic()
        return status, content

    async def _connection(self, worker: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # The server closes a connection idle for its keep-alive timeout (uvicorn's: 5 s), as
        # between runs: one idle for a second is opened again rather than found closed.
        if worker in self.connections and time.monotonic() - self.used[worker] > IDLE_SECONDS:
            _, writer = self.connections.pop(worker)
            writer.close()
        if worker not in self.connections:
            self.connections[worker] = await asyncio.open_connection(self.host, self.port)
            self.used[worker] = time.monotonic()
        return self.connections[worker]

    async def aclose(self) -> None:
        for _, writer in self.connections.values():
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self.connections.clear()


@contextlib.asynccontextmanager
async def webhook_poster(options: Options, url: str) -> AsyncIterator[Poster]:
    if options.httpx_client:
        async with harness.load_client(url, options.concurrency) as client:
            yield HttpxPoster(client)
        return
    poster = RawPoster(url)
    try:
        yield poster
    finally:
        await poster.aclose()


async def send_webhooks(
    poster: Poster,
    bodies: Sequence[bytes],
    concurrency: int,
    expected: str,
    max_seconds: float,
) -> Sent:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    queue = iter(bodies)
    deadline = time.monotonic() + max_seconds

    async def worker(index: int) -> None:
        for body in queue:
            if time.monotonic() > deadline:
                return
            start = time.perf_counter()
            status_code, content = await poster.post(index, body)
            elapsed = (time.perf_counter() - start) * 1000
            if status_code != 200:
                raise BenchError(f"the webhook answered {status_code}: {content[:500]!r}")
            status = str(orjson.loads(content).get("status"))
            statuses[status] = statuses.get(status, 0) + 1
            latencies.append(elapsed)

    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker(index) for index in range(concurrency))),
        timeout=max_seconds + 30,
    )
    seconds = time.perf_counter() - start
    if set(statuses) != {expected}:
        raise BenchError(f"expected every webhook to be {expected!r}, got {statuses}")
    return Sent(seconds, latencies, statuses)


async def ack_run(
    client: Poster,
    server: Process,
    database: Path,
    name: str,
    bodies: Sequence[bytes],
    concurrency: int,
    expected: str,
    max_seconds: float,
) -> AckRun:
    server_cpu, busy = server.cpu_seconds(), machine_busy_seconds()
    sent = await send_webhooks(client, bodies, concurrency, expected, max_seconds)
    server_run = server.cpu_seconds() - server_cpu
    other = machine_busy_seconds() - busy - server_run
    result = AckRun(
        name=name,
        concurrency=concurrency,
        sent=sent,
        server_cpu_s=server_run,
        drain_s=await drain(database, server, max_seconds),
        server_cpu_drained_s=server.cpu_seconds() - server_cpu,
        other_cpu_s=other,
    )
    latencies = sent.latencies_ms
    print(
        f"  {name:<9} c={concurrency:<3} {result.requests} webhooks in {sent.seconds:.1f} s: "
        f"p50 {percentile(latencies, 50):.2f} ms, p99 {percentile(latencies, 99):.2f} ms, "
        f"server CPU {result.cpu_ms(server_run):.2f} ms/webhook, drained in {result.drain_s:.1f} s "
        f"({result.cpu_ms(result.server_cpu_drained_s):.2f} ms/webhook with processing)",
        file=sys.stderr,
        flush=True,
    )
    return result


# --- subscribers -----------------------------------------------------------------------------


@dataclass
class Subscribers:
    sockets: list[ClientConnection] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # delivery index -> perf_counter() of each subscriber's receipt of it
    received: dict[int, list[float]] = field(default_factory=dict)
    others: int = 0  # results for messages this script did not post
    expected: int = 0  # subscribers that should receive each delivery
    complete: dict[int, asyncio.Event] = field(default_factory=dict)

    def all_received(self, index: int) -> asyncio.Event:
        return self.complete.setdefault(index, asyncio.Event())

    async def read(self, socket: ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed, asyncio.CancelledError):
            async for raw in socket:
                now = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") != "next":
                    if message.get("type") in ("error", "complete"):
                        self.failures.append(str(message)[:300])
                    continue
                text = message["payload"]["data"]["messageReceived"]["message"]["text"]
                if isinstance(text, str) and text.startswith(DELIVERY_MARKER):
                    index = int(text[len(DELIVERY_MARKER) :].split()[0])
                    times = self.received.setdefault(index, [])
                    times.append(now)
                    if len(times) >= self.expected:
                        self.all_received(index).set()
                else:
                    self.others += 1

    async def open_one(self, ws_url: str, token: str) -> None:
        try:
            socket = await websockets.connect(
                ws_url,
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                open_timeout=30,
                ping_interval=None,
                max_queue=None,
            )
        except (OSError, websockets.WebSocketException, TimeoutError) as error:
            self.failures.append(f"connect: {error!r}")
            return
        self.sockets.append(socket)
        try:
            await socket.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            ack = json.loads(await asyncio.wait_for(socket.recv(), 30))
            if ack.get("type") != "connection_ack":
                self.failures.append(f"no connection_ack: {ack}")
                return
            await socket.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": {}},
                    }
                )
            )
        except (websockets.WebSocketException, TimeoutError) as error:
            self.failures.append(f"init: {error!r}")
            return
        self.readers.append(asyncio.create_task(self.read(socket)))

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for start in range(0, len(self.sockets), 100):
            batch = self.sockets[start : start + 100]
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.gather(*(s.close() for s in batch), return_exceptions=True), 10
                )
        await asyncio.gather(*self.readers, return_exceptions=True)


@dataclass
class Delivery:
    index: int
    latencies_ms: list[float]
    server_cpu_s: float
    client_cpu_s: float
    warmup: bool = False  # the first message on each socket (`--warmup-deliveries`): not judged


@dataclass
class SubscriberResult:
    requested: int
    opened: int
    failures: list[str]
    open_seconds: float
    rss_start_mb: float  # the server just after it started
    rss_before_mb: float  # after the webhook runs, before any subscriber
    rss_after_mb: float  # with the subscribers open, settled
    rss_delivered_mb: float  # after the deliveries
    server_cpu_open_s: float
    deliveries: list[Delivery]
    others: int


async def subscriber_run(
    options: Options,
    server: Process,
    sandbox: httpx.AsyncClient,
    chat_id: str,
    url: str,
    token: str,
    rss_start: float,
) -> SubscriberResult:
    subscribers = Subscribers()
    ws_url = url.replace("http://", "ws://") + "/graphql"
    rss_before = server.rss_mb()
    try:
        server_cpu = server.cpu_seconds()
        start = time.perf_counter()
        deadline = time.monotonic() + options.max_seconds
        for first in range(0, options.subscribers, options.batch):
            if time.monotonic() > deadline:
                subscribers.failures.append("stopped opening: --max-seconds reached")
                break
            server.check_alive()
            count = min(options.batch, options.subscribers - first)
            await asyncio.gather(*(subscribers.open_one(ws_url, token) for _ in range(count)))
        open_seconds = time.perf_counter() - start
        # The protocol has no acknowledgement of a subscription: let the server settle.
        await asyncio.sleep(2.0)
        server_cpu_open = server.cpu_seconds() - server_cpu
        rss_after = server.rss_mb()
        opened = len(subscribers.readers)
        subscribers.expected = opened
        print(
            f"  {opened} subscriptions open in {open_seconds:.1f} s ({len(subscribers.failures)} failures); "
            f"server RSS {rss_before:.1f} -> {rss_after:.1f} MB",
            file=sys.stderr,
            flush=True,
        )

        deliveries = []
        for index in range(options.warmup_deliveries + options.deliveries):
            server.check_alive()
            server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
            posted = time.perf_counter()
            await post_message(sandbox, chat_id, f"{DELIVERY_MARKER}{index} at {time.time():.3f}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscribers.all_received(index).wait(), 30)
            times = subscribers.received.get(index, [])
            delivery = Delivery(
                index=index,
                latencies_ms=[(t - posted) * 1000 for t in times],
                server_cpu_s=server.cpu_seconds() - server_cpu,
                client_cpu_s=time.process_time() - client_cpu,
                warmup=index < options.warmup_deliveries,
            )
            deliveries.append(delivery)
            lat = delivery.latencies_ms
            print(
                f"  delivery {index}: {len(lat)}/{opened} received, first {fmt(min(lat, default=float('nan')))} ms, "
                f"p50 {fmt(percentile(lat, 50))} ms, p99 {fmt(percentile(lat, 99))} ms, last {fmt(max(lat, default=float('nan')))} ms, "
                f"server CPU {delivery.server_cpu_s:.2f} s",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(1.0)
        return SubscriberResult(
            requested=options.subscribers,
            opened=opened,
            failures=subscribers.failures,
            open_seconds=open_seconds,
            rss_start_mb=rss_start,
            rss_before_mb=rss_before,
            rss_after_mb=rss_after,
            rss_delivered_mb=server.rss_mb(),
            server_cpu_open_s=server_cpu_open,
            deliveries=deliveries,
            others=subscribers.others,
        )
    finally:
        await subscribers.close()


# --- one run ---------------------------------------------------------------------------------


def report(
    options: Options,
    runs: list[AckRun],
    subs: SubscriberResult | None,
    started_at: datetime,
    elapsed: float,
) -> str:
    lines = [
        f"Real-time benchmark, {started_at:%Y-%m-%d %H:%M} UTC: one `switchboard serve` (SQLite) against a `switchboard sandbox` "
        f"(added latency {options.latency_ms:g} ms), as bob (WhatsApp). {options.warmup} warm-up webhooks first.",
        "",
        f"Webhook acknowledgement (`POST /webhooks/unipile`, {'keep-alive httpx client' if options.httpx_client else 'lean keep-alive HTTP/1.1 client (a connection per worker, requests written and responses read by hand)'} in the benchmark process; latency is the client's, request sent to response read):",
        "",
        "| run | concurrency | webhooks | acks/s | p50 ms | p99 ms | max ms | answered | server CPU ms/webhook during the run | processing drained after (s) | server CPU ms/webhook incl. processing | other CPU-s (client etc.) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        answered = ", ".join(f"{count} {status}" for status, count in run.sent.statuses.items())
        latencies = run.sent.latencies_ms
        lines.append(
            f"| {run.name} ids | {run.concurrency} | {run.requests} | {fmt(run.rate)} | {fmt(percentile(latencies, 50), 2)} "
            f"| {fmt(percentile(latencies, 99), 2)} | {fmt(max(latencies), 2)} | {answered} "
            f"| {fmt(run.cpu_ms(run.server_cpu_s), 2)} | {fmt(run.drain_s, 1)} | {fmt(run.cpu_ms(run.server_cpu_drained_s), 2)} | {fmt(max(0.0, run.other_cpu_s), 2)} |"
        )
    if subs is not None:
        per = (
            (subs.rss_after_mb - subs.rss_before_mb) * 1024 / subs.opened
            if subs.opened
            else float("nan")
        )
        lines += [
            "",
            f"Subscribers (`{SUBSCRIPTION}`, graphql-transport-ws, all opened from the benchmark process in batches of {options.batch}), server RSS from /proc/PID/status VmRSS:",
            "",
            "| subscriptions open | opening took (s) | server CPU to open (s) | RSS at start MB | RSS before MB | RSS with subscribers MB | growth MB | KB per subscriber | RSS after deliveries MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {subs.opened} of {subs.requested} | {fmt(subs.open_seconds)} | {fmt(subs.server_cpu_open_s, 2)} | {fmt(subs.rss_start_mb)} | {fmt(subs.rss_before_mb)} "
            f"| {fmt(subs.rss_after_mb)} | {fmt(subs.rss_after_mb - subs.rss_before_mb)} | {fmt(per)} | {fmt(subs.rss_delivered_mb)} |",
        ]
        if subs.failures:
            lines += [
                "",
                f"Subscription failures ({len(subs.failures)}), first: {subs.failures[0]}",
            ]
        lines += [
            "",
            "Delivery: a message posted to the sandbox (`POST /_sandbox/messages`), which delivers the webhook to the server; the time from the post until each subscriber received the result (the warm-up message, the first each socket receives, is not judged):",
            "",
            "| message | received by | first ms | p50 ms | p99 ms | last ms | server CPU (s) | client CPU (s) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for delivery in subs.deliveries:
            lat = delivery.latencies_ms
            lines.append(
                f"| {'warm-up' if delivery.warmup else delivery.index + 1 - options.warmup_deliveries} | {len(lat)} of {subs.opened} | {fmt(min(lat, default=float('nan')))} | {fmt(percentile(lat, 50))} "
                f"| {fmt(percentile(lat, 99))} | {fmt(max(lat, default=float('nan')))} | {fmt(delivery.server_cpu_s, 2)} | {fmt(delivery.client_cpu_s, 2)} |"
            )
        if subs.others:
            lines += ["", f"Results for other messages received meanwhile: {subs.others}."]
    lines += targets(runs, subs)
    lines += ["", harness.machine_line("client", elapsed)]
    return "\n".join(lines)


# A target, what was measured, and whether it was met (None: not measured).
Verdict = tuple[str, str, bool | None]


def targets(runs: list[AckRun], subs: SubscriberResult | None) -> list[str]:
    """Issue 15's real-time targets, each met or not by this run."""
    acks = [run for run in runs if run.concurrency == ACK_CONCURRENCY]
    ack_rows: list[Verdict] = [
        (
            f"webhook ack p99 <= {ACK_P99_MS:g} ms at concurrency {ACK_CONCURRENCY} ({run.name} ids)",
            f"{fmt(percentile(run.sent.latencies_ms, 99), 2)} ms over {run.requests} webhooks",
            percentile(run.sent.latencies_ms, 99) <= ACK_P99_MS,
        )
        for run in acks
    ] or [
        (
            f"webhook ack p99 <= {ACK_P99_MS:g} ms at concurrency {ACK_CONCURRENCY}",
            f"no concurrency {ACK_CONCURRENCY} level",
            None,
        )
    ]
    delivery_rows: list[Verdict]
    if subs is None or not any(not d.warmup for d in subs.deliveries):
        delivery_rows = [
            (
                f"{SUBSCRIBERS:,} open subscriptions: one message reaches all with p99 <= {DELIVERY_P99_MS:g} ms",
                "not run",
                None,
            )
        ]
    else:
        judged = [d for d in subs.deliveries if not d.warmup]
        p99s = [percentile(d.latencies_ms, 99) for d in judged]
        everyone = all(len(d.latencies_ms) == subs.opened for d in judged)
        delivery_rows = [
            (
                f"{SUBSCRIBERS:,} open subscriptions: one message reaches all with p99 <= {DELIVERY_P99_MS:g} ms",
                f"{subs.opened} open; p99 per message {', '.join(fmt(each) for each in p99s)} ms"
                + ("" if everyone else "; not every subscriber received every message"),
                everyone
                and subs.opened >= SUBSCRIBERS
                and all(each <= DELIVERY_P99_MS for each in p99s),
            )
        ]
    verdicts = {True: "**met**", False: "**not met**", None: "n/a"}
    return [
        "",
        "Issue 15's real-time targets:",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *(
            f"| {target} | {value} | {verdicts[met]} |"
            for target, value, met in ack_rows + delivery_rows
        ),
    ]


def server_command(options: Options) -> list[str]:
    if options.profile is not None:
        return [sys.executable, "-c", harness.PROFILED_SERVER, str(options.profile)]
    return switchboard_command("serve")


async def run(options: Options) -> str:
    with harness.prepared("switchboard-bench-realtime-", options.keep, USER_EMAIL) as prepared:
        env, workdir, database = prepared.env, prepared.workdir, prepared.database
        faults = {"latency_ms": options.latency_ms}
        async with (
            harness.sandbox_started(env, workdir, faults) as (_, sandbox_url),
            httpx.AsyncClient(base_url=sandbox_url, timeout=30.0) as sandbox,
        ):
            chats = await whatsapp_chats(sandbox)
            # Real messages, posted before any webhook is registered: the sandbox delivers none.
            needed = options.warmup + options.webhooks * len(options.concurrency)
            print(f"posting {needed} messages to {len(chats)} chats", file=sys.stderr)
            posted: list[tuple[str, str]] = []
            for index in range(needed):
                chat = chats[index % len(chats)]
                posted.append((chat, await post_message(sandbox, chat, f"bench {index}")))
            bodies = [webhook_body(chat, message) for chat, message in posted]

            async with harness.server_started(
                "server",
                server_command(options),
                env,
                workdir,
                sandbox_url,
                grace=20.0 if options.profile else 5.0,
                public_url=True,
            ) as served:
                server = served.process
                rss_start = server.rss_mb()
                runs: list[AckRun] = []
                async with webhook_poster(options, served.url) as client:
                    if options.warmup:
                        await ack_run(
                            client,
                            server,
                            database,
                            "warm-up",
                            bodies[: options.warmup],
                            min(4, max(options.concurrency)),
                            "recorded",
                            options.max_seconds,
                        )
                    cursor = options.warmup
                    for level in options.concurrency:
                        batch = bodies[cursor : cursor + options.webhooks]
                        cursor += options.webhooks
                        runs.append(
                            await ack_run(
                                client,
                                server,
                                database,
                                "distinct",
                                batch,
                                level,
                                "recorded",
                                options.max_seconds,
                            )
                        )
                        if options.duplicates:
                            runs.append(
                                await ack_run(
                                    client,
                                    server,
                                    database,
                                    "duplicate",
                                    [batch[0]] * options.duplicates,
                                    level,
                                    "duplicate",
                                    options.max_seconds,
                                )
                            )
                print(f"receipts: {receipts_by_state(database)}", file=sys.stderr, flush=True)

                subs = None
                if options.subscribers:
                    run_command(
                        switchboard_command("webhooks", "register"),
                        served.env,
                        workdir,
                        timeout=60,
                    )
                    subs = await subscriber_run(
                        options, server, sandbox, chats[0], served.url, prepared.token, rss_start
                    )
                server.check_alive()
        return report(options, runs, subs, prepared.started_at, prepared.elapsed())


def main(argv: Sequence[str] | None = None) -> int:
    return harness.main(run, Options, argv, prog="python -m bench.realtime", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())

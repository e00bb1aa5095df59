"""The UniPile transport (`unipile._transport`) attacked as a hostile or broken upstream would:
pipelined and informational answers, odd framing, resets, cancellation at every stage, closing the
transport mid-flight, the pool's limits. Where it reads an answer otherwise than httpx's own
transport, the test says how and why."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import struct
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trustme
import uvloop

from tests.unipile.transport.test_unipile_transport import (
    Answer,
    ScriptedServer,
    answering,
    hanging,
    on_turn,
    response,
    serving,
)
from unipile import UnipileTransport

Outcome = tuple[int, str, list[tuple[bytes, bytes]], bytes] | str
"""What a GET came to: status, reason, raw headers and body, or the name of what it raised."""

TransportFactory = Callable[[], httpx.AsyncBaseTransport]
BOTH: dict[str, TransportFactory] = {
    "lean": UnipileTransport,
    "stock": httpx.AsyncHTTPTransport,
}


class TrackedServer(ScriptedServer):
    """A scripted server that also knows how many of its connections are still open."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer)
        self.open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        try:
            await super().handle(reader, writer)
        finally:
            self.open -= 1


@asynccontextmanager
async def tracked(answer: Answer) -> AsyncIterator[TrackedServer]:
    server = TrackedServer(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
        listener.close()


@asynccontextmanager
async def lean_client(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = UnipileTransport(**options)
    async with httpx.AsyncClient(transport=transport, timeout=2.0) as client:
        yield client


@asynccontextmanager
async def raw_listener(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
) -> AsyncIterator[int]:
    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with listener:
        yield listener.sockets[0].getsockname()[1]
        listener.close()


async def settle(condition: Callable[[], bool], within: float = 0.5) -> bool:
    """Whether `condition` holds, waiting for it at most `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def reset(writer: asyncio.StreamWriter) -> None:
    """Closes a connection with a TCP RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def outcome(client: httpx.AsyncClient, url: str) -> Outcome:
    try:
        answer = await client.get(url)
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return answer.status_code, answer.reason_phrase, list(answer.headers.raw), answer.content


async def side_by_side(answer: Answer, requests: int = 2) -> dict[str, tuple[list[Outcome], int]]:
    """The outcomes of the same GETs through each transport, each against its own fresh server,
    and how many connections each server saw."""
    seen: dict[str, tuple[list[Outcome], int]] = {}
    for name, factory in BOTH.items():
        async with serving(answer) as server:
            async with httpx.AsyncClient(transport=factory(), timeout=1.0) as client:
                outcomes = [await outcome(client, server.url + "/") for _ in range(requests)]
            seen[name] = (outcomes, server.connections)
    return seen


# -- the same answers, side by side with httpx's own transport ----------------------------

HELD = {
    "204 without Content-Length": b"HTTP/1.1 204 No Content\r\n\r\n",
    "204 with Content-Length: 0": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "304 announcing a body it does not send": (
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
    ),
    "HTTP/1.0 without keep-alive": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "no reason phrase": b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok",
    "conflicting Content-Length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"
    ),
    "negative Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok",
    "space before the colon": b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    "chunked with an extension": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;name=v\r\nok\r\n0\r\n\r\n"
    ),
}

AGREED_SINCE_FIXED = {
    "100 Continue then 200 in one segment": (b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"final")),
    "103 Early Hints then 200": (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" + response(b"final")
    ),
    "a chunked trailer": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n"
        b"2\r\nok\r\n0\r\nX-T: 1\r\n\r\n"
    ),
    "an unasked 101 Switching Protocols": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
    ),
    "a 300 kB header": response(b"ok", "X-Big: " + "v" * 300_000),
}
HELD.update(AGREED_SINCE_FIXED)

# Framing h11 reads leniently and llhttp refuses, on purpose (the module's docstring).
STRICTER = {
    "Content-Length and Transfer-Encoding": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    ),
    "the same Content-Length twice": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"
    ),
    "a Content-Length list of one value": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
    "an obs-folded header": b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "bare LF line ends": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
}

# Bytes past the end of an answer, which h11 keeps and hands to the next request.
LEFTOVERS = {
    "two answers in one segment": (
        response(b"first") + response(b"second!", status="404 Not Found")
    ),
    "junk after the body": response(b"first") + b"junk",
}


@pytest.mark.parametrize("answer", list(HELD.values()), ids=list(HELD))
async def test_an_odd_answer_comes_out_as_through_httpx(answer: bytes) -> None:
    seen = await side_by_side(answering(answer))
    assert seen["lean"] == seen["stock"]


@pytest.mark.parametrize("answer", list(STRICTER.values()), ids=list(STRICTER))
async def test_ambiguous_framing_is_refused(answer: bytes) -> None:
    seen = await side_by_side(answering(answer), requests=1)
    assert seen["lean"] == (["RemoteProtocolError"], 1)
    assert seen["stock"][0] != ["RemoteProtocolError"]


@pytest.mark.parametrize("answer", list(LEFTOVERS.values()), ids=list(LEFTOVERS))
async def test_bytes_past_an_answer_are_never_the_next_answer(answer: bytes) -> None:
    seen = await side_by_side(answering(answer))
    first: Outcome = (200, "OK", [(b"Content-Length", b"5")], b"first")
    assert seen["lean"] == ([first, first], 2)
    assert seen["stock"][0][1] != first


# -- informational and unasked answers -----------------------------------------------------


async def test_an_informational_answer_is_never_the_answer() -> None:
    async def continue_then_answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        path = head.split(b" ")[1]
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(response(b"answer to " + path))
        await writer.drain()
        return True

    async with serving(continue_then_answer) as server, lean_client() as client:
        first = await client.get(server.url + "/first")
        second = await client.get(server.url + "/second")
    assert (first.status_code, first.content) == (200, b"answer to /first")
    assert (second.status_code, second.content) == (200, b"answer to /second")


async def test_an_unasked_upgrade_is_a_protocol_error_the_loop_never_sees() -> None:
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        async with serving(answering(upgrade)) as server, lean_client() as client:
            with pytest.raises(httpx.RemoteProtocolError):
                await client.get(server.url)
    finally:
        loop.set_exception_handler(None)
    assert reported == []


async def test_unsolicited_bytes_on_an_idle_connection_are_never_an_answer() -> None:
    async def answer_then_babble(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"asked"))
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(response(b"stale, nobody asked"))
        await writer.drain()
        return True

    async with serving(answer_then_babble) as server, lean_client() as client:
        assert (await client.get(server.url)).content == b"asked"
        await asyncio.sleep(0.05)
        assert (await client.get(server.url)).content == b"asked"
    assert server.connections == 2


async def test_an_answer_sent_before_the_request_is_taken_as_httpx_takes_it() -> None:
    async def speak_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(response(b"unasked"))
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response(b"asked"))
            await writer.drain()
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    seen = {}
    async with raw_listener(speak_first) as port:
        for name, factory in BOTH.items():
            async with httpx.AsyncClient(transport=factory(), timeout=1.0) as client:
                seen[name] = await outcome(client, f"http://127.0.0.1:{port}/")
    assert seen["lean"] == seen["stock"]


# -- resets and closes ---------------------------------------------------------------------


async def test_a_reset_mid_body_is_a_read_error_and_never_sent_again() -> None:
    async def reset_mid_body(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.02)
        reset(writer)
        return False

    for name, factory in BOTH.items():
        async with serving(reset_mid_body) as server:
            async with httpx.AsyncClient(transport=factory(), timeout=1.0) as client:
                with pytest.raises(httpx.ReadError):
                    await client.get(server.url)
        assert len(server.heads) == 1, name


async def resetting(head: bytes, writer: asyncio.StreamWriter) -> bool:
    reset(writer)
    return False


async def test_a_reused_connection_reset_as_the_request_arrives_is_replaced() -> None:
    reset_the_second = on_turn(2, resetting, answering(response(b"ok")))
    async with serving(reset_the_second) as server, lean_client() as client:
        assert (await client.get(server.url)).content == b"ok"
        assert (await client.get(server.url)).content == b"ok"
    assert (server.connections, len(server.heads)) == (2, 3)


async def test_a_reused_connection_that_began_an_answer_is_never_sent_again() -> None:
    half_answer_the_second = on_turn(
        2, answering(b"HTTP/1.1 200 OK\r\nContent-Le", keep=False), answering(response(b"ok"))
    )
    async with serving(half_answer_the_second) as server, lean_client() as client:
        assert (await client.get(server.url)).content == b"ok"
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)
        assert (await client.get(server.url)).content == b"ok"
    assert (server.connections, len(server.heads)) == (2, 3)


async def test_a_huge_body_arrives_whole() -> None:
    body = bytes(range(256)) * (8 << 12)  # 8 MiB
    async with serving(answering(response(body))) as server, lean_client() as client:
        assert (await client.get(server.url)).content == body
        assert (await client.get(server.url)).content == body
    assert server.connections == 1


# -- time ----------------------------------------------------------------------------------


async def test_a_read_timeout_on_a_reused_connection_drops_it() -> None:
    hang_on_the_second = on_turn(2, hanging(seconds=0.4), answering(response(b"ok")))
    async with serving(hang_on_the_second) as server, lean_client() as client:
        assert (await client.get(server.url)).content == b"ok"
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url, timeout=httpx.Timeout(1.0, read=0.1))
        assert (await client.get(server.url)).content == b"ok"
    assert (server.connections, len(server.heads)) == (2, 3)


async def test_an_idle_connection_expires_after_keepalive_expiry() -> None:
    answered: set[asyncio.StreamWriter] = set()

    async def black_hole_once_answered(head: bytes, writer: asyncio.StreamWriter) -> bool:
        if writer in answered:  # the path to this connection is gone, silently
            await asyncio.sleep(0.5)
            return False
        answered.add(writer)
        writer.write(response(b"ok"))
        await writer.drain()
        return True

    limits = httpx.Limits(keepalive_expiry=0.05)
    async with serving(black_hole_once_answered) as server:
        async with lean_client(limits=limits) as client:
            assert (await client.get(server.url)).content == b"ok"
            await asyncio.sleep(0.15)
            answer = await client.get(server.url, timeout=httpx.Timeout(1.0, read=0.2))
    assert answer.content == b"ok"


async def test_a_pool_overrun_times_out_the_excess_and_recovers() -> None:
    async def slow(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.1)
        writer.write(response(b"ok"))
        await writer.drain()
        return True

    limits = httpx.Limits(max_connections=2)
    async with tracked(slow) as server, lean_client(limits=limits) as client:
        tight = httpx.Timeout(1.0, pool=0.03)
        got = await asyncio.gather(
            *(client.get(server.url, timeout=tight) for _ in range(8)), return_exceptions=True
        )
        assert sorted(type(g).__name__ for g in got) == ["PoolTimeout"] * 6 + ["Response"] * 2
        assert server.connections == 2
        again = await asyncio.gather(*(client.get(server.url) for _ in range(4)))
        assert [a.content for a in again] == [b"ok"] * 4
        assert server.connections == 2
    assert await settle(lambda: server.open == 0)


# -- cancellation: no slot, no socket may leak ---------------------------------------------


async def test_requests_cancelled_waiting_for_a_slot_and_reading_leak_nothing() -> None:
    connections = open_connections = 0

    async def hang_on_slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections, open_connections
        connections += 1
        open_connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if b"/slow" in head:
                    await reader.read()  # never answers; returns when the client hangs up
                    return
                writer.write(response(b"ok"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_connections -= 1
            writer.close()

    limits = httpx.Limits(max_connections=1)
    async with raw_listener(hang_on_slow) as port, lean_client(limits=limits) as client:
        url = f"http://127.0.0.1:{port}"
        for _ in range(3):
            tasks = [asyncio.create_task(client.get(url + "/slow")) for _ in range(4)]
            await asyncio.sleep(0.02)  # one reading, three waiting for the slot
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
            # The connection the cancelled request read on was closed, not parked.
            assert await settle(lambda: open_connections == 0)
        answer = await client.get(url + "/fast", timeout=httpx.Timeout(1.0, pool=0.1))
        assert answer.content == b"ok"
    assert connections == 4


@pytest.fixture(scope="module")
def attacks_authority() -> trustme.CA:
    return trustme.CA()


def tls_context(authority: trustme.CA, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `name`, and a client context trusting it."""
    serving_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(name).configure_cert(serving_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    return serving_context, trusting


async def test_a_tls_handshake_cancelled_or_timed_out_leaks_no_socket(
    attacks_authority: trustme.CA,
) -> None:
    _, trusting = tls_context(attacks_authority, "localhost")
    open_connections = 0

    async def never_shake_hands(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        open_connections += 1
        try:
            while await reader.read(4096):
                pass
        finally:
            open_connections -= 1
            writer.close()

    with warnings.catch_warnings(record=True):
        gc.collect()  # what earlier tests left is theirs, not this one's
    async with raw_listener(never_shake_hands) as port:
        url = f"https://localhost:{port}/"
        async with lean_client(ssl_context=trusting) as client:
            with pytest.raises(httpx.ConnectTimeout):
                await client.get(url, timeout=httpx.Timeout(1.0, connect=0.05))
            task = asyncio.create_task(client.get(url))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await settle(lambda: open_connections == 0)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                gc.collect()
            leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
            assert [str(w.message) for w in leaks] == []


async def test_a_certificate_for_another_name_is_a_connect_error(
    attacks_authority: trustme.CA,
) -> None:
    serving_context, trusting = tls_context(attacks_authority, "example.org")
    async with serving(answering(response(b"secret")), serving_context) as server:
        async with lean_client(ssl_context=trusting) as client:
            with pytest.raises(httpx.ConnectError, match="Hostname mismatch"):
                await client.get(f"https://localhost:{server.port}/")
    assert server.heads == []


async def test_an_unknown_name_is_a_connect_error() -> None:
    async with lean_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://nonexistent.invalid/")


# -- closing the transport ------------------------------------------------------------------


async def test_aclose_closes_every_idle_connection() -> None:
    async with tracked(answering(response(b"ok"))) as server:
        async with lean_client() as client:
            await asyncio.gather(*(client.get(server.url) for _ in range(3)))
            assert server.open == 3
        assert await settle(lambda: server.open == 0)


async def test_aclose_leaves_no_connection_open_behind_it() -> None:
    async def slow(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.1)
        writer.write(response(b"late"))
        await writer.drain()
        return True

    transport = UnipileTransport()
    async with tracked(slow) as server:
        try:
            client = httpx.AsyncClient(transport=transport, timeout=1.0)
            in_flight = asyncio.create_task(client.get(server.url))
            await asyncio.sleep(0.03)
            await transport.aclose()
            await asyncio.gather(in_flight, return_exceptions=True)
            assert await settle(lambda: server.open == 0, within=0.3)
        finally:
            await client.aclose()  # closes, again, what the first aclose left behind


# -- the pool's limits ---------------------------------------------------------------------


async def test_max_connections_bounds_the_connections_open() -> None:
    servers = [tracked(answering(response(b"ok"))) for _ in range(3)]
    async with servers[0] as a, servers[1] as b, servers[2] as c:
        limits = httpx.Limits(max_connections=1)
        async with lean_client(limits=limits) as client:
            for server in (a, b, c):
                assert (await client.get(server.url)).content == b"ok"
            assert await settle(lambda: a.open + b.open + c.open <= 1, within=0.3)


# -- the request head ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{"X Bad": "1"}, {"X:Y": "1"}, {"": "v"}, {"X-A": " lead"}], ids=repr
)
async def test_an_illegal_request_header_is_refused_unsent(headers: dict[str, str]) -> None:
    async with serving(answering(response(b"never"))) as server, lean_client() as client:
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(server.url, headers=headers)
    assert server.heads == []


async def test_an_internationalised_host_is_resolved_as_idna_2008() -> None:
    loop = asyncio.get_running_loop()
    if isinstance(loop, uvloop.Loop):
        pytest.skip("uvloop resolves names in C, out of reach of the spy")
    assert "faß.de".encode("idna") == b"fass.de"  # what Python's own codec makes of it
    resolved: list[str] = []
    real_getaddrinfo = loop.getaddrinfo

    async def spy(host: bytes | str | None, port: Any, **options: Any) -> Any:
        resolved.append(host.decode() if isinstance(host, bytes) else str(host))
        return await real_getaddrinfo("127.0.0.1", port, **options)

    loop.getaddrinfo = spy  # type: ignore[method-assign]
    try:
        async with serving(answering(response(b"ok"))) as server, lean_client() as client:
            assert (await client.get(f"http://faß.de:{server.port}/")).content == b"ok"
    finally:
        del loop.getaddrinfo
    assert resolved == ["xn--fa-hia.de"]


# -- routing -------------------------------------------------------------------------------


class Recording(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.methods: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.methods.append(request.method)
        return httpx.Response(299, request=request)


async def test_only_plain_gets_take_the_lean_pool() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"streamed"

    others = Recording()
    async with serving(answering(response(b"lean"))) as server:
        async with httpx.AsyncClient(transport=UnipileTransport(others=others)) as client:
            assert (await client.head(server.url)).status_code == 299
            assert (await client.options(server.url)).status_code == 299
            assert (await client.request("GET", server.url, content=b"x")).status_code == 299
            assert (await client.request("GET", server.url, content=body())).status_code == 299
            assert (await client.get(server.url)).content == b"lean"
    assert others.methods == ["HEAD", "OPTIONS", "GET", "GET"]
    assert len(server.heads) == 1

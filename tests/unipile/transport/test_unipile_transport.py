"""The UniPile transport (`unipile._transport`) from the outside: against the sandbox over real
HTTP, side by side with httpx's own transport, and against servers that misbehave on purpose: closed
keep-alive connections, hung and dribbling answers, broken framing, TLS with a certificate the
client must or must not trust."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import trustme

from tests.unipile.unipile_testkit import API_KEY
from unipile import UnipileClient, UnipileTransport, UpstreamConnectionError, UpstreamTimeoutError

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request (its head); returns whether to keep the connection for the next one."""


class ScriptedServer:
    """A TCP server answering each request head by `answer`; counts connections and requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.heads: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                if not await self.answer(head, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serving(
    answer: Answer, tls: ssl.SSLContext | None = None
) -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
        listener.close()


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answering(*chunks: bytes, keep: bool = True) -> Answer:
    async def answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        return keep

    return answer


def on_turn(turn: int, odd: Answer, usual: Answer) -> Answer:
    """Answers the server's request number `turn` (from 1) by `odd`, every other by `usual`."""
    seen = 0

    async def answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        nonlocal seen
        seen += 1
        return await (odd if seen == turn else usual)(head, writer)

    return answer


def hanging(*chunks: bytes, seconds: float = 5.0) -> Answer:
    """Writes `chunks`, then sends nothing more for `seconds` and drops the connection."""

    async def answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await answering(*chunks)(head, writer)
        await asyncio.sleep(seconds)
        return False

    return answer


@asynccontextmanager
async def lean_client(**options: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = UnipileTransport(**options)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, timeout=2.0) as client:
        yield client


# -- side by side with httpx's own transport, on the sandbox ----------------------------------

SANDBOX_READS = [
    "/api/v1/accounts",
    "/api/v1/chats?limit=5",
    "/api/v1/emails?limit=3&meta_only=true",
    "/api/v1/chats/no-such-chat",
    "/api/v1/emails?limit=not-a-number",
]


@pytest.mark.parametrize("key", [API_KEY, "a-key-the-sandbox-does-not-know"])
async def test_every_read_answers_as_through_httpx_own_transport(
    sandbox_url: str, key: str
) -> None:
    async with lean_client() as lean, httpx.AsyncClient(timeout=2.0) as stock:
        for path in SANDBOX_READS:
            ours = await lean.get(sandbox_url + path, headers={"X-API-KEY": key})
            theirs = await stock.get(sandbox_url + path, headers={"X-API-KEY": key})
            assert (ours.status_code, ours.content) == (theirs.status_code, theirs.content), path
            assert ours.reason_phrase == theirs.reason_phrase
            assert ours.http_version == "HTTP/1.1"
            for name in ("content-type", "content-length"):
                assert ours.headers.get(name) == theirs.headers.get(name), (path, name)


async def test_the_client_pages_the_sandbox_on_one_kept_connection(sandbox_url: str) -> None:
    async with lean_client() as lean, httpx.AsyncClient() as stock:
        ours = UnipileClient(lean, sandbox_url, API_KEY)
        theirs = UnipileClient(stock, sandbox_url, API_KEY)
        accounts = await ours.list_accounts()
        assert accounts.items == (await theirs.list_accounts()).items
        for account in accounts.items:
            page = await ours.list_chats(account_id=account.id, limit=20)
            assert page == await theirs.list_chats(account_id=account.id, limit=20)


async def test_writes_go_through_httpx_own_transport(sandbox_url: str) -> None:
    async with lean_client() as lean:
        client = UnipileClient(lean, sandbox_url, API_KEY)
        chat = (await client.list_chats(limit=1)).items[0]
        sent = await client.send_chat_message(chat.id, text="through the transport")
        assert sent.message_id is not None
        message = await client.get_message(sent.message_id)
        assert message.text == "through the transport"


# -- keep-alive ----------------------------------------------------------------------------


async def test_sequential_reads_share_one_connection() -> None:
    async with serving(answering(response(b"{}"))) as server, lean_client() as client:
        for _ in range(5):
            assert (await client.get(server.url + "/x")).json() == {}
    assert (server.connections, len(server.heads)) == (1, 5)


async def test_connection_close_is_honoured() -> None:
    async with serving(answering(response(b"1", "Connection: close"), keep=False)) as server:
        async with lean_client() as client:
            for _ in range(3):
                assert (await client.get(server.url)).content == b"1"
    assert server.connections == 3


async def test_a_keep_alive_connection_the_server_closed_is_replaced() -> None:
    async with serving(answering(response(b"fresh"), keep=False)) as server:
        async with lean_client() as client:
            assert (await client.get(server.url)).content == b"fresh"
            await asyncio.sleep(0.05)
            assert (await client.get(server.url)).content == b"fresh"
    assert server.connections == 2


async def test_a_reused_connection_dropped_before_any_answer_is_sent_again_once() -> None:
    drop_the_second = on_turn(2, answering(keep=False), answering(response(b"ok")))
    async with serving(drop_the_second) as server, lean_client() as client:
        assert (await client.get(server.url)).content == b"ok"
        assert (await client.get(server.url)).content == b"ok"
    assert (server.connections, len(server.heads)) == (2, 3)


async def test_a_fresh_connection_dropped_before_any_answer_is_an_error() -> None:
    async with serving(answering(keep=False)) as server, lean_client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)
    assert server.connections == 1


async def test_idle_connections_kept_are_bounded() -> None:
    async def slow(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.05)
        writer.write(response(b"s"))
        return True

    limits = httpx.Limits(max_connections=10, max_keepalive_connections=2)
    async with serving(slow) as server, lean_client(limits=limits) as client:
        await asyncio.gather(*(client.get(server.url) for _ in range(6)))
        assert server.connections == 6
        await asyncio.gather(*(client.get(server.url) for _ in range(6)))
    assert server.connections == 6 + 4


# -- framing -------------------------------------------------------------------------------


async def test_a_chunked_answer_is_joined() -> None:
    chunked = response(
        b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n", "Transfer-Encoding: chunked"
    )
    async with serving(answering(chunked[:30], chunked[30:41], chunked[41:])) as server:
        async with lean_client() as client:
            assert (await client.get(server.url)).text == "hello world"
            assert (await client.get(server.url)).text == "hello world"
    assert server.connections == 1


async def test_a_body_ended_by_closing_the_connection() -> None:
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    async with serving(answering(head, b"until ", b"the end", keep=False)) as server:
        async with lean_client() as client:
            assert (await client.get(server.url)).content == b"until the end"


async def test_a_gzip_answer_is_decoded_by_httpx() -> None:
    packed = gzip.compress(b'{"items": []}')
    async with serving(answering(response(packed, "Content-Encoding: gzip"))) as server:
        async with lean_client() as client:
            assert (await client.get(server.url)).json() == {"items": []}


@pytest.mark.parametrize(
    "garbage",
    [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", b"\x00" * 64],
)
async def test_a_malformed_answer_is_a_protocol_error(garbage: bytes) -> None:
    async with serving(answering(garbage)) as server, lean_client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)


async def test_an_answer_cut_short_is_a_protocol_error() -> None:
    cut = response(b"0123456789")[:-4]
    async with serving(answering(cut, keep=False)) as server, lean_client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url)


async def test_a_long_header_line_arrives_whole() -> None:
    value = "v" * 100_000
    async with serving(answering(response(b"", f"X-Long: {value}"))) as server:
        async with lean_client() as client:
            assert (await client.get(server.url)).headers["x-long"] == value


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\x00b"])
async def test_a_header_that_would_end_early_is_refused_unsent(value: str) -> None:
    async with serving(answering(response(b"never"))) as server, lean_client() as client:
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(server.url, headers={"X-Request-ID": value})
    assert server.heads == []


# -- time ----------------------------------------------------------------------------------


async def test_a_hung_answer_times_out_and_its_connection_is_not_reused() -> None:
    half = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"
    hang_once = on_turn(1, hanging(half), answering(response(b"second")))
    async with serving(hang_once) as server, lean_client() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url, timeout=httpx.Timeout(5.0, read=0.2))
        assert (await client.get(server.url)).content == b"second"
    assert server.connections == 2


async def test_the_read_timeout_bounds_each_wait_not_the_whole_answer() -> None:
    drips = [b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", *(bytes([c]) for c in b"slowly")]

    async def dribble(head: bytes, writer: asyncio.StreamWriter) -> bool:
        for drip in drips:
            writer.write(drip)
            await writer.drain()
            await asyncio.sleep(0.1)
        return True

    async with serving(dribble) as server, lean_client() as client:
        answer = await client.get(server.url, timeout=httpx.Timeout(5.0, read=0.3))
    assert answer.content == b"slowly"


async def test_a_request_cancelled_mid_answer_leaves_nothing_for_the_next() -> None:
    async def late(head: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"/slow" in head:
            await asyncio.sleep(0.3)
            writer.write(response(b"late answer to /slow"))
        else:
            writer.write(response(b"answer to /fast"))
        return True

    async with serving(late) as server, lean_client() as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await client.get(server.url + "/slow")
        assert (await client.get(server.url + "/fast")).content == b"answer to /fast"
    assert server.connections == 2


async def test_a_request_cancelled_while_waiting_closes_its_connection() -> None:
    hung_up = asyncio.Event()

    async def wait_for_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        assert await reader.read() == b""
        hung_up.set()
        writer.close()

    listener = await asyncio.start_server(wait_for_hang_up, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener, lean_client() as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await client.get(f"http://127.0.0.1:{port}/")
        async with asyncio.timeout(1.0):
            await hung_up.wait()


async def test_connecting_to_a_closed_port_is_a_connect_error() -> None:
    async with serving(answering()) as server:
        port = server.port
    async with lean_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")


async def test_waiting_for_a_free_connection_is_bounded_by_the_pool_timeout() -> None:
    async def hang(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    limits = httpx.Limits(max_connections=1)
    async with serving(hang) as server, lean_client(limits=limits) as client:
        holder = asyncio.create_task(client.get(server.url, timeout=5.0))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url, timeout=httpx.Timeout(5.0, pool=0.1))
        holder.cancel()


async def test_the_unipile_client_names_a_hung_upstream_as_a_timeout() -> None:
    async def hang(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    async with serving(hang) as server, lean_client() as http:
        client = UnipileClient(
            http, server.url, API_KEY, timeout=httpx.Timeout(1.0, read=0.2), max_retries=0
        )
        with pytest.raises(UpstreamTimeoutError):
            await client.list_accounts()


async def test_the_unipile_client_names_a_dropped_connection() -> None:
    async with serving(answering(keep=False)) as server, lean_client() as http:
        client = UnipileClient(http, server.url, API_KEY, max_retries=0)
        with pytest.raises(UpstreamConnectionError):
            await client.list_accounts()


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def server_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(context)
    return context


async def test_reads_over_tls_with_a_trusted_certificate(authority: trustme.CA) -> None:
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with serving(answering(response(b"secret")), server_context(authority)) as server:
        async with lean_client(ssl_context=trusting) as client:
            for _ in range(3):
                assert (await client.get(f"https://localhost:{server.port}/")).content == b"secret"
    assert server.connections == 1


async def test_a_certificate_nobody_vouches_for_is_refused(authority: trustme.CA) -> None:
    async with serving(answering(response(b"secret")), server_context(authority)) as server:
        async with lean_client() as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://localhost:{server.port}/")

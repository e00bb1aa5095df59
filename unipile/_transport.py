"""The HTTP transport of UniPile calls: GETs on a keep-alive HTTP/1.1 pool of its own, parsed by
httptools; every other request through httpx's own transport.

Reads are what a page costs: four list calls per inbox page. Through httpcore, h11 and anyio an
attempt costs about 0.55 ms of CPU before its JSON is decoded, against about 0.1 ms here, where
each connection is an asyncio protocol feeding llhttp (the parser uvicorn serves with). Writes
keep httpcore: they are rare, and their retry rules depend on knowing exactly whether anything
was sent, which httpcore's errors say.

The pool follows httpx's `Limits` (connections open, idle ones kept, their expiry) and `Timeout`
(connect, read, pool; a GET's few hundred bytes never wait on a write) and raises httpx's
exceptions, so the client above cannot tell the two transports apart. Where they differ, this one
is the stricter: llhttp refuses ambiguous framing (Content-Length beside Transfer-Encoding,
repeated Content-Length, folded headers, bare LF line ends) that h11 reads leniently, since a
client that guesses at framing can be handed one response as another. A connection is reused
only after an answer that ended exactly where its framing said; a reused connection that the
server closed before answering is replaced once, since a server may close an idle connection
just as a request goes out."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import cast

import certifi
import httptools
import httpx

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# httpcore's bound on a response head; past it a server could grow one without end.
MAX_HEAD_BYTES = 100 * 1024
# What h11 accepts in a request head (RFC 9110 5.1, 5.5).
_HEADER_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(rb"(?:[!-~\x80-\xff]+(?:[ \t]+[!-~\x80-\xff]+)*)?")
_UNLIMITED = 2**31
SWITCHING_PROTOCOLS = 101


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: bytes
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(slots=True)
class _Answer:
    """What one response has brought so far."""

    done: asyncio.Future[None]
    status: int = 0
    reason: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    headers_complete: bool = False
    informational: bool = False
    keep_alive: bool = False
    complete: bool = False

    def start_again(self) -> None:
        """Forget a 1xx answer: the final one follows it."""
        self.status, self.reason, self.headers, self.body = 0, b"", [], []
        self.headers_complete = self.informational = False


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, asked one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: _Answer | None = None
        self._head_bytes = 0
        self._read_timeout: float | None = None
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # Bytes past the end of an answer: the connection cannot be trusted with the next one.
        self._spoiled = False
        self.closed = False
        # Whether the current request has had any byte back: one that has not may be sent again.
        self.heard_back = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no subclasses of asyncio's, though they are the same thing.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        answer = self._answer
        if answer is None or answer.complete:
            # Bytes nobody asked for.
            self.close()
            return
        self._last_read = self._loop.time()
        self.heard_back = True
        if not answer.headers_complete:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse("UniPile switched protocols unasked")
        except httptools.HttpParserError as exc:
            self._refuse(f"malformed response from UniPile: {exc}")
        if not answer.headers_complete and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(f"a response head over {MAX_HEAD_BYTES} bytes")
        if self._spoiled:
            self.close()

    def eof_received(self) -> bool:
        answer = self._answer
        if answer is not None and not answer.done.done():
            if answer.headers_complete and not self._has_framing(answer):
                # A body delimited by the end of the connection.
                self._finish(answer)
            else:
                self._fail(httpx.RemoteProtocolError("the server closed the connection early"))
        self.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._stop_timer()
        self._fail(httpx.ReadError(f"the connection was lost: {exc!r}"))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        answer = self._answer
        if answer is not None and answer.complete:
            self._spoiled = True

    def on_status(self, status: bytes) -> None:
        answer = self._answer
        if answer is not None and not answer.complete:
            answer.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        answer = self._answer
        # After the head come only a chunked body's trailers, which httpx leaves out too.
        if answer is not None and not answer.complete and not answer.headers_complete:
            answer.headers.append((name, value))

    def on_headers_complete(self) -> None:
        answer = self._answer
        if answer is None or answer.complete:
            return
        answer.headers_complete = True
        answer.status = self._parser.get_status_code()
        if answer.status == SWITCHING_PROTOCOLS:
            self._refuse("UniPile switched protocols unasked")
            return
        answer.informational = 100 <= answer.status < 200
        # llhttp answers this only until the message completes.
        answer.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        answer = self._answer
        if answer is not None and not answer.complete:
            answer.body.append(body)

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is None or answer.complete:
            return
        if answer.informational:
            answer.start_again()
            self._head_bytes = 0
            return
        self._finish(answer)

    # -- asking ----------------------------------------------------------------------------

    async def ask(self, head: bytes, read_timeout: float | None) -> _Answer:
        """Writes a request head and waits for its whole response."""
        assert self._transport is not None
        answer = self._answer = _Answer(self._loop.create_future())
        self.heard_back = False
        self._head_bytes = 0
        self._read_timeout = read_timeout
        self._last_read = self._loop.time()
        if read_timeout is not None:
            self._timer = self._loop.call_at(self._last_read + read_timeout, self._check_reading)
        self._transport.write(head)
        try:
            await answer.done
        except BaseException:
            # Cancelled or failed halfway through a response: nothing else may read from it.
            self.close()
            raise
        finally:
            self._stop_timer()
            self._answer = None
        if not answer.keep_alive:
            self.close()
        return answer

    @property
    def reusable(self) -> bool:
        return not self.closed and self._transport is not None and not self._transport.is_closing()

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _finish(self, answer: _Answer) -> None:
        answer.complete = True
        if not answer.done.done():
            answer.done.set_result(None)

    def _check_reading(self) -> None:
        assert self._read_timeout is not None
        due = self._last_read + self._read_timeout
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check_reading)
            return
        self._timer = None
        self._fail(httpx.ReadTimeout("UniPile sent nothing within the read timeout"))
        self.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, reason: str) -> None:
        self._fail(httpx.RemoteProtocolError(reason))
        self._spoiled = True

    def _fail(self, error: Exception) -> None:
        answer = self._answer
        if answer is not None and not answer.done.done():
            answer.done.set_exception(error)

    @staticmethod
    def _has_framing(answer: _Answer) -> bool:
        names = {name.lower() for name, _ in answer.headers}
        return b"content-length" in names or b"transfer-encoding" in names


class _Pool:
    """Connections per origin, at most `max_connections` open (idle ones included) and at most
    `max_keepalive_connections` of them idle, none idle longer than `keepalive_expiry`."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self._max_open = limits.max_connections or _UNLIMITED
        self._max_idle = (
            _UNLIMITED
            if limits.max_keepalive_connections is None
            else limits.max_keepalive_connections
        )
        self._expiry = limits.keepalive_expiry
        self._slots = asyncio.Semaphore(self._max_open)
        self._idle: dict[_Origin, deque[_Connection]] = {}
        self._idle_count = 0
        self._open: set[_Connection] = set()
        self._ssl_context = ssl_context
        self._closed = False

    async def slot(self, within: float | None) -> None:
        try:
            async with asyncio.timeout(within):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no connection to UniPile was free in time") from exc

    def release(self) -> None:
        self._slots.release()

    def idle(self, origin: _Origin) -> _Connection | None:
        """The origin's most recently used idle connection that is still good."""
        connections = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while connections:
            connection = connections.pop()
            self._idle_count -= 1
            expired = self._expiry is not None and now - connection.idle_since > self._expiry
            if connection.reusable and not expired:
                return connection
            self._close(connection)
        return None

    def give_back(self, origin: _Origin, connection: _Connection) -> None:
        if self._closed or not connection.reusable or self._idle_count >= self._max_idle:
            self._close(connection)
            return
        connection.idle_since = asyncio.get_running_loop().time()
        self._idle.setdefault(origin, deque()).append(connection)
        self._idle_count += 1

    async def open(self, origin: _Origin, within: float | None) -> _Connection:
        if len(self._open) >= self._max_open:
            self._open = {connection for connection in self._open if not connection.closed}
        # The caller holds a slot, so past the bound at least one open connection is idle.
        if len(self._open) >= self._max_open:
            self._close_oldest_idle()
        loop = asyncio.get_running_loop()
        tls = origin.scheme == b"https"
        try:
            async with asyncio.timeout(within):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    origin.host,
                    origin.port,
                    ssl=self._ssl_context if tls else None,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {origin} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"connecting to {origin}: {exc}") from exc
        self._open.add(connection)
        return connection

    def close(self) -> None:
        """Close every connection, those in use too (their requests fail with a read error)."""
        self._closed = True
        for connection in list(self._open):
            self._close(connection)
        self._idle.clear()
        self._idle_count = 0

    def _close(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def _close_oldest_idle(self) -> None:
        for connections in self._idle.values():
            if connections:
                self._close(connections.popleft())
                self._idle_count -= 1
                return


def default_ssl_context() -> ssl.SSLContext:
    """What httpx verifies with by default: certifi's certificate authorities."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers, refused as h11 refuses them (a line break in a value would
    let it add headers of its own)."""
    lines = [request.method.encode("ascii") + b" " + request.url.raw_path + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise httpx.LocalProtocolError(f"illegal header {name!r}: {value!r}")
        lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _timeout(request: httpx.Request, name: str) -> float | None:
    timeouts = request.extensions.get("timeout", {})
    value = timeouts.get(name)
    return value if isinstance(value, int | float) else None


class UnipileTransport(httpx.AsyncBaseTransport):
    """GETs without a body on the lean pool; anything else on `others` (httpx's transport)."""

    def __init__(
        self,
        limits: httpx.Limits = DEFAULT_LIMITS,
        *,
        ssl_context: ssl.SSLContext | None = None,
        others: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        context = ssl_context or default_ssl_context()
        self._pool = _Pool(limits, context)
        self._others = others or httpx.AsyncHTTPTransport(limits=limits, verify=context)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._is_plain_read(request):
            return await self._others.handle_async_request(request)
        url = request.url
        # The host as sent in the Host header (IDNA 2008), never re-encoded by asyncio's codec.
        origin = _Origin(url.raw_scheme, url.raw_host.decode("ascii"), self._port_of(url))
        head = _request_head(request)
        await self._pool.slot(_timeout(request, "pool"))
        try:
            answer = await self._ask(origin, head, request)
        finally:
            self._pool.release()
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=httpx.ByteStream(b"".join(answer.body)),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason},
            request=request,
        )

    async def _ask(self, origin: _Origin, head: bytes, request: httpx.Request) -> _Answer:
        read_timeout = _timeout(request, "read")
        connection = self._pool.idle(origin)
        if connection is not None:
            try:
                answer = await connection.ask(head, read_timeout)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                if connection.heard_back:
                    raise
            else:
                self._pool.give_back(origin, connection)
                return answer
        connection = await self._pool.open(origin, _timeout(request, "connect"))
        answer = await connection.ask(head, read_timeout)
        self._pool.give_back(origin, connection)
        return answer

    @staticmethod
    def _is_plain_read(request: httpx.Request) -> bool:
        headers = request.headers
        return (
            request.method == "GET"
            and request.url.raw_scheme in (b"http", b"https")
            and "content-length" not in headers
            and "transfer-encoding" not in headers
        )

    @staticmethod
    def _port_of(url: httpx.URL) -> int:
        if url.port is not None:
            return url.port
        return 443 if url.raw_scheme == b"https" else 80

    async def aclose(self) -> None:
        self._pool.close()
        await self._others.aclose()

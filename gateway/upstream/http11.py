"""A small HTTP/1.1 client for the upstream hot path: keep-alive pool, httptools parsing.

Why not httpx here: on these machines httpx's client and pool took about 70% of the
gateway's busy time per request (bench/RESULTS.md). This client does only what the relay
needs: POST/GET with a bytes body, response headers, and the body as it arrives.
httpx remains the client when a test injects a transport, and for `client: httpx`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

from gateway.upstream.errors import UpstreamErrorType, UpstreamFailure

_END = object()
# Backpressure: past this many body bytes received and not yet read by the relay, the
# connection stops reading from the socket (TCP then slows the upstream down); it reads
# again once the relay has taken the queue below a quarter of it.
HIGH_WATER = 1 << 20
LOW_WATER = HIGH_WATER // 4


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    _conn: _Connection
    _read_timeout: float

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives; raises UpstreamFailure if it breaks off or goes silent."""
        while True:
            item = await self._conn.next_chunk(self._read_timeout)
            if item is _END:
                return
            assert isinstance(item, bytes)
            yield item

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def release(self) -> None:
        """Done with the response: a fully read keep-alive connection goes back to the pool."""
        self._conn.release()


@dataclass(eq=False)  # compared and hashed by identity: the pool keeps a set of them
class _Connection(asyncio.Protocol):
    pool: Pool
    transport: asyncio.Transport | None = None
    parser: httptools.HttpResponseParser | None = None
    headers: dict[str, str] = field(default_factory=dict)
    head: asyncio.Future[int] | None = None
    body: deque[object] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    complete: bool = False
    broken: str | None = None
    got_bytes: bool = False
    released: bool = True
    keep_alive: bool = False
    buffered: int = 0  # body bytes queued and not yet read
    paused: bool = False

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self.parser is None:
            self._fail("data outside a response")
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"malformed response: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pool.forget(self)
        if not self.complete:
            self._fail("connection closed by the upstream")

    # --- httptools callbacks ------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        # Read here: after the message completes, the parser has moved on.
        self.keep_alive = self.parser.should_keep_alive()
        if self.head is not None and not self.head.done():
            self.head.set_result(self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        self.body.append(bytes(body))
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        self.wake.set()

    def on_message_complete(self) -> None:
        self.complete = True
        self.body.append(_END)
        self.wake.set()

    # --- use ----------------------------------------------------------------------------
    def start(self, request: bytes) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers, self.body, self.complete, self.got_bytes = {}, deque(), False, False
        self.released = False
        self.keep_alive = False
        self.buffered, self.paused = 0, False
        self.head = asyncio.get_running_loop().create_future()
        if self.transport is None or self.transport.is_closing():
            raise UpstreamFailure(UpstreamErrorType.PROTOCOL, "connection closed while idle")
        self.transport.write(request)

    async def next_chunk(self, silence_s: float) -> object:
        while not self.body:
            if self.broken is not None:
                raise UpstreamFailure(UpstreamErrorType.PROTOCOL, self.broken)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), silence_s)
            except TimeoutError:
                self.close()
                raise UpstreamFailure(UpstreamErrorType.TIMEOUT, "upstream went silent") from None
        item = self.body.popleft()
        if isinstance(item, bytes):
            self.buffered -= len(item)
            if self.paused and self.buffered < LOW_WATER and self.transport is not None:
                self.transport.resume_reading()
                self.paused = False
        return item

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        reusable = (
            self.complete and self.broken is None and self.transport is not None and self.keep_alive
        )
        if not reusable:
            self.close()
        self.pool.give_back(self, reusable)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self.pool.forget(self)

    def _fail(self, reason: str) -> None:
        self.broken = self.broken or reason
        if self.head is not None and not self.head.done():
            self.head.set_exception(UpstreamFailure(UpstreamErrorType.PROTOCOL, reason))
        self.wake.set()


class Pool:
    """Keep-alive connections to one origin, at most `max_connections` at a time."""

    def __init__(
        self, base_url: str, max_connections: int, connect_timeout: float, read_timeout: float
    ) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self._ssl = ssl.create_default_context() if self.https else None
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()  # every connection not yet closed
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._closed = False

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        silence_s: float | None = None,
    ) -> Response:
        read_timeout = silence_s or self._read_timeout
        try:
            await asyncio.wait_for(self._slots.acquire(), read_timeout)
        except TimeoutError:
            raise UpstreamFailure(
                UpstreamErrorType.TIMEOUT, "no free upstream connection"
            ) from None
        try:
            return await self._send(method, path, headers, body, read_timeout)
        except BaseException:
            self._slots.release()
            raise

    async def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes, silence_s: float
    ) -> Response:
        request = self._encode(method, path, headers, body)
        for attempt in range(2):
            conn = self._take_idle()
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            try:
                conn.start(request)
                assert conn.head is not None
                status = await asyncio.wait_for(conn.head, silence_s)
            except TimeoutError:
                conn.close()
                raise UpstreamFailure(UpstreamErrorType.TIMEOUT, "no response in time") from None
            except UpstreamFailure:
                conn.close()
                # A kept-alive connection the server had already closed: try a fresh one once.
                if reused and not conn.got_bytes and attempt == 0:
                    continue
                raise
            except BaseException:  # cancelled (a client went away, a shutdown): not reusable
                conn.close()
                raise
            return Response(status, conn.headers, conn, silence_s)
        raise UpstreamFailure(UpstreamErrorType.PROTOCOL, "unreachable")

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = _Connection(self)
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: conn, self.host, self.port, ssl=self._ssl),
                self._connect_timeout,
            )
        except TimeoutError:
            raise UpstreamFailure(UpstreamErrorType.CONNECT, "connect timed out") from None
        except OSError as exc:
            raise UpstreamFailure(UpstreamErrorType.CONNECT, f"connect failed: {exc}") from None
        self._open.add(conn)
        return conn

    def _encode(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"host: {self.host_header}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"content-length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def forget(self, conn: _Connection) -> None:
        self._open.discard(conn)

    def give_back(self, conn: _Connection, reusable: bool) -> None:
        if reusable and not self._closed:
            self._idle.append(conn)
        else:
            conn.close()  # a connection in use when the pool was closed: closed on its return
        self._slots.release()

    async def aclose(self) -> None:
        """Close every connection, idle or still in use (a shutdown cancels their users);
        one given back later is closed, not kept."""
        self._closed = True
        self._idle.clear()
        for conn in list(self._open):
            conn.close()

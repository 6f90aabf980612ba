"""The native HTTP/1.1 client against raw loopback servers: reuse, stale connections, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gateway.upstream.errors import UpstreamErrorType, UpstreamFailure
from gateway.upstream.http11 import Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length")), 0)
    return head + await reader.readexactly(length)


async def serve(handler: Handler, body: Callable[[Pool, list[int]], Awaitable[None]]) -> list[int]:
    """Run `body` against a server on a free port; returns the connections accepted."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(f"http://127.0.0.1:{port}/v1", 4, 1.0, 1.0)
    try:
        await body(pool, accepted)
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()
    return accepted


def test_keep_alive_reuses_one_connection_and_decodes_chunked_bodies() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in range(3):
            request = await read_request(reader)
            assert request.startswith(b"POST /v1/chat HTTP/1.1\r\n") and request.endswith(b"{}")
            if i % 2:
                writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                             b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")  # fmt: skip
            else:
                writer.write(
                    b"HTTP/1.1 201 Created\r\ncontent-length: 5\r\nX-Thing: 1\r\n\r\nhello"
                )
            await writer.drain()

    async def body(pool: Pool, accepted: list[int]) -> None:
        for i in range(3):
            response = await pool.request(
                "POST", "/chat", {"content-type": "application/json"}, b"{}"
            )
            content = await response.read()
            response.release()
            assert (response.status, content) == ((200, b"abcde") if i % 2 else (201, b"hello"))
            if not i % 2:
                assert response.headers["x-thing"] == "1"

    assert len(asyncio.run(serve(handler, body))) == 1


def test_a_stale_kept_alive_connection_is_retried_on_a_fresh_one() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        # then the server drops the idle connection without saying so

    async def body(pool: Pool, accepted: list[int]) -> None:
        for _ in range(2):
            response = await pool.request("POST", "/x", {}, b"")
            assert await response.read() == b"ok"
            response.release()
            await asyncio.sleep(0.05)

    assert len(asyncio.run(serve(handler, body))) == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", UpstreamErrorType.PROTOCOL),  # closed before answering
        (b"garbage\r\n\r\n", UpstreamErrorType.PROTOCOL),
        (None, UpstreamErrorType.TIMEOUT),  # never answers
    ],
)
def test_failures_are_classified(reply: bytes | None, error: UpstreamErrorType) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if reply is None:
            await asyncio.sleep(5)
        writer.write(reply or b"")
        await writer.drain()

    async def body(pool: Pool, accepted: list[int]) -> None:
        with pytest.raises(UpstreamFailure) as info:
            await pool.request("POST", "/x", {}, b"", 0.3)
        assert info.value.error_type is error

    asyncio.run(serve(handler, body))


def test_connection_refused_is_a_connect_error() -> None:
    async def body() -> None:
        pool = Pool("http://127.0.0.1:9/v1", 1, 1.0, 1.0)
        with pytest.raises(UpstreamFailure) as info:
            await pool.request("GET", "/models", {}, b"")
        assert info.value.error_type is UpstreamErrorType.CONNECT
        # the slot was given back: a second try fails the same way instead of waiting
        with pytest.raises(UpstreamFailure):
            await pool.request("GET", "/models", {}, b"")

    asyncio.run(body())


def test_a_request_cancelled_while_waiting_closes_its_connection() -> None:
    asked, closed = asyncio.Event(), asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        asked.set()
        assert await reader.read() == b""  # never answers; the client closes
        closed.set()

    async def body(pool: Pool, accepted: list[int]) -> None:
        task = asyncio.create_task(pool.request("POST", "/x", {}, b""))
        await asyncio.wait_for(asked.wait(), 5)
        task.cancel()  # waiting for the answer: a shadow worker stopped at shutdown, say
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 5)

    asyncio.run(serve(handler, body))


def test_a_connection_in_use_when_the_pool_closes_is_closed_on_its_return() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        assert await reader.read() == b""  # a kept-alive connection the client closes
        closed.set()

    async def body(pool: Pool, accepted: list[int]) -> None:
        response = await pool.request("POST", "/x", {}, b"")
        await pool.aclose()  # a retired upstream closed while a request still reads
        assert await response.read() == b"ok"
        response.release()
        await asyncio.wait_for(closed.wait(), 5)

    asyncio.run(serve(handler, body))

"""The upstream client's use of its connection slots and memory, against raw servers:
a failed probe gives its slot back; a slow reader does not make the gateway hold a fast
upstream's whole answer."""

from __future__ import annotations

import asyncio
import resource

from gateway.config.settings import UpstreamSettings
from gateway.upstream.client import OpenStream, Upstream
from tests.gateway.upstream.test_http11 import read_request

ANSWER = b'{"choices": [{"index": 0, "message": {"content": "ok"}}]}'


async def models_stall_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """GET /models: headers and half a body, then silence; POST: a normal answer."""
    try:
        while True:
            request = await read_request(reader)
            if request.startswith(b"GET"):
                writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"data": [')
                await writer.drain()
                await asyncio.sleep(30)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(ANSWER) + ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def test_a_probe_that_fails_mid_body_gives_its_connection_slot_back() -> None:
    async def main() -> int:
        server = await asyncio.start_server(models_stall_mid_body, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = UpstreamSettings(
            base_url=f"http://127.0.0.1:{port}/v1", model="m", max_connections=2, timeout_s=1
        )
        upstream = Upstream(settings, None)
        try:
            assert not await upstream.probe(0.2)
            assert not await upstream.probe(0.2)
            reply = await upstream.post("/chat/completions", b"{}", "r1")
            return reply.status
        finally:
            await upstream.aclose()
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == 200


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_slow_reader_keeps_memory_flat_on_a_fast_200_mb_stream() -> None:
    chunk = b"data: " + b"x" * 65_530 + b"\n\n"  # 64 KiB events
    count = 200 * 16  # 200 MiB

    async def fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
        try:
            for _ in range(count):
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> tuple[float, int]:
        server = await asyncio.start_server(fast, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        settings = UpstreamSettings(base_url=f"http://127.0.0.1:{port}/v1", model="m")
        upstream = Upstream(settings, None)
        before, peak, received = rss_mib(), 0.0, 0
        try:
            stream = await upstream.open_stream("/chat/completions", b"{}", "r1")
            assert isinstance(stream, OpenStream)
            received += len(stream.first)
            for i in range(120):  # a trickle: 120 reads, 10 ms apart
                received += len(await anext(stream.rest))
                await asyncio.sleep(0.01)
                if i % 10 == 0:
                    peak = max(peak, rss_mib() - before)
            await stream.aclose()
        finally:
            await upstream.aclose()
            server.close()
            await server.wait_closed()
        return peak, received

    peak, received = asyncio.run(main())
    assert received > 0
    assert peak < 60, f"RSS grew {peak:.0f} MiB while the reader took {received >> 20} MiB"

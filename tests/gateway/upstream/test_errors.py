"""Every way an upstream call fails ends in one closed set of error types (a metric label)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from gateway.upstream.client import classify
from gateway.upstream.errors import UpstreamErrorType, UpstreamFailure
from gateway.upstream.http11 import Pool

REQUEST = httpx.Request("POST", "http://upstream/v1/chat/completions")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("refused", request=REQUEST), UpstreamErrorType.CONNECT),
        (httpx.ConnectTimeout("slow connect", request=REQUEST), UpstreamErrorType.CONNECT),
        (httpx.ReadTimeout("silent", request=REQUEST), UpstreamErrorType.TIMEOUT),
        (httpx.PoolTimeout("no connection", request=REQUEST), UpstreamErrorType.TIMEOUT),
        (httpx.RemoteProtocolError("garbage", request=REQUEST), UpstreamErrorType.PROTOCOL),
        (httpx.ReadError("reset", request=REQUEST), UpstreamErrorType.PROTOCOL),
    ],
)
def test_httpx_errors_are_sorted(error: httpx.HTTPError, kind: UpstreamErrorType) -> None:
    assert classify(error) is kind


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_native_client_connect_refused_is_connect() -> None:
    async def main() -> UpstreamErrorType:
        pool = Pool(f"http://127.0.0.1:{closed_port()}/v1", 2, 1.0, 1.0)
        try:
            await pool.request("GET", "/models", {}, b"")
        except UpstreamFailure as exc:
            return exc.error_type
        finally:
            await pool.aclose()
        raise AssertionError("no failure")

    assert asyncio.run(main()) is UpstreamErrorType.CONNECT


def test_native_client_silence_is_timeout() -> None:
    writers: list[asyncio.StreamWriter] = []

    async def main() -> UpstreamErrorType:
        async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)  # never answers; closed below

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = Pool(f"http://127.0.0.1:{port}/v1", 2, 1.0, 0.2)
        try:
            await pool.request("GET", "/models", {}, b"")
        except UpstreamFailure as exc:
            return exc.error_type
        finally:
            await pool.aclose()
            for writer in writers:
                writer.close()
            server.close()
            await server.wait_closed()
        raise AssertionError("no failure")

    assert asyncio.run(main()) is UpstreamErrorType.TIMEOUT

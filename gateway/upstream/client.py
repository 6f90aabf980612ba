"""One OpenAI-compatible upstream: pooled connections, failures sorted into a closed set.

Two clients behind one interface: the small native HTTP/1.1 client (`gateway.http11`,
the default: it costs a fraction of httpx per request) and httpx (`client: httpx`, and
whenever a test injects an httpx transport).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from gateway.config.settings import UpstreamSettings
from gateway.upstream import http11
from gateway.upstream.errors import UpstreamErrorType, UpstreamFailure

__all__ = ["OpenStream", "Upstream", "UpstreamErrorType", "UpstreamFailure", "UpstreamReply"]

# Response headers worth relaying to the client; hop-by-hop and length headers are not.
_RELAYED = ("content-type", "retry-after")


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """A complete (non-streamed) upstream answer, relayed as bytes."""

    status: int
    headers: dict[str, str]
    content: bytes


class OpenStream:
    """A 200 streaming answer whose first chunk has arrived; the rest is read by the relay."""

    def __init__(
        self,
        first: bytes,
        rest: AsyncIterator[bytes],
        headers: dict[str, str],
        closer: Callable[[], Awaitable[None]],
    ) -> None:
        self.first = first
        self.rest = rest
        self.headers = headers
        self._closer = closer

    def replay(self, first: bytes, rest: AsyncIterator[bytes]) -> OpenStream:
        """The same upstream stream, read from `first` and `rest` instead."""
        return OpenStream(first, rest, self.headers, self._closer)

    async def aclose(self) -> None:
        await self._closer()


class Upstream:
    def __init__(
        self,
        settings: UpstreamSettings,
        api_key: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.api_key = api_key
        self.model = settings.model
        self.base_url = settings.base_url
        headers = _base_headers(api_key)
        self._backend: _Native | _Httpx
        if settings.client == "native" and transport is None:
            self._backend = _Native(settings, headers)
        else:
            self._backend = _Httpx(settings, headers, transport)

    async def post(self, path: str, body: bytes, request_id: str) -> UpstreamReply:
        return await self._backend.post(path, body, request_id)

    async def open_stream(
        self, path: str, body: bytes, request_id: str
    ) -> OpenStream | UpstreamReply:
        """Send a streaming request and wait for its first chunk.

        A non-200 answer comes back whole as an UpstreamReply. Nothing has reached the
        client yet when this returns or raises, so the caller may still fall back.
        """
        return await self._backend.open_stream(path, body, request_id)

    async def probe(self, timeout_s: float) -> bool:
        """True when `GET /models` answers 200 within `timeout_s`."""
        return await self._backend.probe(timeout_s)

    async def aclose(self) -> None:
        await self._backend.aclose()


class _Native:
    def __init__(self, settings: UpstreamSettings, headers: dict[str, str]) -> None:
        self._pool = http11.Pool(
            settings.base_url, settings.max_connections, settings.connect_timeout_s,
            settings.timeout_s,
        )  # fmt: skip
        self._headers = headers

    async def post(self, path: str, body: bytes, request_id: str) -> UpstreamReply:
        response = await self._pool.request("POST", path, self._with(request_id), body)
        try:
            content = await response.read()
        finally:
            response.release()
        return UpstreamReply(response.status, _pick(response.headers), content)

    async def open_stream(
        self, path: str, body: bytes, request_id: str
    ) -> OpenStream | UpstreamReply:
        response = await self._pool.request("POST", path, self._with(request_id), body)
        rest = response.chunks()
        try:
            if response.status != 200:
                content = b"".join([chunk async for chunk in rest])
                response.release()
                return UpstreamReply(response.status, _pick(response.headers), content)
            first = await anext(rest, b"")
        except BaseException:
            response.release()
            raise
        if not first:
            response.release()
            raise UpstreamFailure(UpstreamErrorType.PROTOCOL, "stream ended before any data")

        async def close() -> None:
            await rest.aclose()
            response.release()

        return OpenStream(first, rest, _pick(response.headers), close)

    async def probe(self, timeout_s: float) -> bool:
        try:
            response = await self._pool.request("GET", "/models", self._headers, b"", timeout_s)
        except UpstreamFailure:
            return False
        try:
            await response.read()
        except UpstreamFailure:
            return False
        finally:
            response.release()  # a body that broke off or went silent gives its slot back too
        return response.status == 200

    async def aclose(self) -> None:
        await self._pool.aclose()

    def _with(self, request_id: str) -> dict[str, str]:
        return {**self._headers, "x-request-id": request_id}


class _Httpx:
    """httpx clients used in turn: one client's pool slows down with many requests in flight."""

    def __init__(
        self,
        settings: UpstreamSettings,
        headers: dict[str, str],
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.base_url = settings.base_url
        timeout = httpx.Timeout(
            settings.timeout_s, connect=settings.connect_timeout_s, pool=settings.timeout_s
        )
        per_client = max(1, settings.max_connections // settings.clients)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        self._clients = [
            httpx.AsyncClient(
                timeout=timeout,
                transport=transport or httpx.AsyncHTTPTransport(limits=limits),
                headers=headers,
            )
            for _ in range(settings.clients if transport is None else 1)
        ]
        self._next = itertools.cycle(self._clients)

    async def post(self, path: str, body: bytes, request_id: str) -> UpstreamReply:
        client = next(self._next)
        try:
            response = await client.post(
                self.base_url + path, content=body, headers={"x-request-id": request_id}
            )
        except httpx.HTTPError as exc:
            raise _failure(exc) from exc
        return UpstreamReply(response.status_code, _pick(response.headers), response.content)

    async def open_stream(
        self, path: str, body: bytes, request_id: str
    ) -> OpenStream | UpstreamReply:
        client = next(self._next)
        request = client.build_request(
            "POST", self.base_url + path, content=body, headers={"x-request-id": request_id}
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _failure(exc) from exc
        try:
            if response.status_code != 200:
                content = await response.aread()
                return UpstreamReply(response.status_code, _pick(response.headers), content)
            rest = _translated(response.aiter_raw())
            first = await anext(rest, b"")
        except BaseException:
            await response.aclose()
            raise
        if not first:
            await response.aclose()
            raise UpstreamFailure(UpstreamErrorType.PROTOCOL, "stream ended before any data")
        return OpenStream(first, rest, _pick(response.headers), response.aclose)

    async def probe(self, timeout_s: float) -> bool:
        try:
            response = await self._clients[0].get(self.base_url + "/models", timeout=timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


async def _translated(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """httpx's errors as UpstreamFailure, so the relay sees one kind of failure."""
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.HTTPError as exc:
        raise _failure(exc) from exc


def classify(exc: httpx.HTTPError) -> UpstreamErrorType:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return UpstreamErrorType.CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamErrorType.TIMEOUT
    return UpstreamErrorType.PROTOCOL


def _failure(exc: httpx.HTTPError) -> UpstreamFailure:
    return UpstreamFailure(classify(exc), f"{type(exc).__name__}: {exc}".rstrip(": "))


def _base_headers(api_key: str | None) -> dict[str, str]:
    # identity: response bytes are relayed as they come, so they must not be compressed.
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return headers


def _pick(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in _RELAYED if name in headers}

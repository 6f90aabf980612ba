"""Pooled HTTP clients for one OpenAI-compatible upstream; failures sorted into a closed set."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

import httpx

from gateway.config import UpstreamSettings

# Response headers worth relaying to the client; hop-by-hop and length headers are not.
_RELAYED = ("content-type", "retry-after")


class UpstreamErrorType(StrEnum):
    CONNECT = "connect"
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    STREAM_INTERRUPTED = "stream_interrupted"


class UpstreamFailure(Exception):
    """The upstream gave no usable HTTP answer."""

    def __init__(self, error_type: UpstreamErrorType, detail: str) -> None:
        super().__init__(detail)
        self.error_type = error_type
        self.detail = detail


@dataclass(frozen=True, slots=True)
class UpstreamReply:
    """A complete (non-streamed) upstream answer, relayed as bytes."""

    status: int
    headers: dict[str, str]
    content: bytes


class OpenStream:
    """A 200 streaming answer whose first chunk has arrived; the rest is read by the relay."""

    def __init__(self, response: httpx.Response, first: bytes, rest: AsyncIterator[bytes]) -> None:
        self.response = response
        self.first = first
        self.rest = rest
        self.headers = _relayed_headers(response)

    async def aclose(self) -> None:
        await self.response.aclose()


class Upstream:
    """One upstream server: a few httpx clients used in turn, all closed by `aclose`."""

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
        timeout = httpx.Timeout(
            settings.timeout_s, connect=settings.connect_timeout_s, pool=settings.timeout_s
        )
        per_client = max(1, settings.max_connections // settings.clients)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        self._clients = [
            httpx.AsyncClient(
                timeout=timeout,
                transport=transport or httpx.AsyncHTTPTransport(limits=limits),
                headers=_base_headers(api_key),
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
        return UpstreamReply(response.status_code, _relayed_headers(response), response.content)

    async def open_stream(
        self, path: str, body: bytes, request_id: str
    ) -> OpenStream | UpstreamReply:
        """Send a streaming request and wait for its first chunk.

        A non-200 answer comes back whole as an UpstreamReply. Nothing has reached the
        client yet when this returns or raises, so the caller may still fall back.
        """
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
                return UpstreamReply(response.status_code, _relayed_headers(response), content)
            rest = response.aiter_raw()
            first = await anext(rest, b"")
        except httpx.HTTPError as exc:
            await response.aclose()
            raise _failure(exc) from exc
        except BaseException:
            await response.aclose()
            raise
        if not first:
            await response.aclose()
            raise UpstreamFailure(UpstreamErrorType.PROTOCOL, "stream ended before any data")
        return OpenStream(response, first, rest)

    async def probe(self, timeout_s: float) -> bool:
        """True when `GET /models` answers 200 within `timeout_s`."""
        try:
            response = await self._clients[0].get(self.base_url + "/models", timeout=timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


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


def _relayed_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in _RELAYED if name in response.headers}

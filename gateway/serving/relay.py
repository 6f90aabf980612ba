"""Relays an upstream SSE stream to the client chunk by chunk, keeping a bounded copy of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.serving.errors import sse_error_event
from gateway.upstream.client import OpenStream, UpstreamErrorType, UpstreamFailure

_DONE = b"data: [DONE]"
_BLANK_LINES = (b"\n\n", b"\r\n\r\n", b"\r\r")
MAX_PENDING = 1 << 20  # an "event" this long without a blank line is relayed as it comes


@dataclass(slots=True)
class RelayOutcome:
    """What happened to one relayed stream; handed to the bookkeeping callback at the end."""

    captured: bytearray
    truncated: bool = False
    disconnected: bool = False
    error_type: UpstreamErrorType | None = None
    first_sent_at: float | None = None
    ended_at: float = 0.0


class StreamRelay(Response):
    """An ASGI response for an open upstream stream.

    The client's disconnect is watched while relaying, so a client that goes away
    cancels the upstream request even when the upstream is silent. `on_done` runs in
    every case (success, upstream error, disconnect), after the upstream is closed.
    """

    def __init__(
        self,
        stream: OpenStream,
        headers: dict[str, str],
        capture_limit: int,
        clock: Callable[[], float],
        on_done: Callable[[RelayOutcome], None],
    ) -> None:
        # Response's own __init__ is skipped: this class writes its ASGI messages itself.
        self.status_code = 200
        self.background = None
        self._stream = stream
        self._start_headers = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]
        self._limit = capture_limit
        self._clock = clock
        self._on_done = on_done
        self.outcome = RelayOutcome(bytearray())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
            if not pump.done():
                self.outcome.disconnected = True
        finally:
            for task in (pump, watch):
                task.cancel()
            for task in (pump, watch):
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
            await self._stream.aclose()
            self.outcome.ended_at = self._clock()
            self._on_done(self.outcome)
        if self.background is not None:
            await self.background()

    async def _pump(self, send: Send) -> None:
        """Relay whole events only: a stream that breaks off inside an event ends with the
        gateway's error event, never with half a `data:` line the client cannot parse."""
        out = self.outcome
        await send({"type": "http.response.start", "status": 200, "headers": self._start_headers})
        chunk, pending, tail = self._stream.first, b"", b""
        try:
            while True:
                data = pending + chunk
                cut = _events_end(data) if len(data) < MAX_PENDING else len(data)
                if cut:
                    tail = await self._send(send, data[:cut], tail)
                pending = data[cut:]
                chunk = await anext(self._stream.rest, b"")
                if not chunk:
                    break
            if pending:  # a last event without its blank line: the upstream ended cleanly
                tail = await self._send(send, pending, tail)
        except UpstreamFailure as exc:
            out.error_type = exc.error_type
            if out.error_type is UpstreamErrorType.PROTOCOL:
                out.error_type = UpstreamErrorType.STREAM_INTERRUPTED
        if out.error_type is None and _DONE not in tail:
            out.error_type = UpstreamErrorType.STREAM_INTERRUPTED
        if out.error_type is not None:
            # The client already has bytes: no fallback is possible, so end with a clean error.
            message = f"The upstream stream broke off ({out.error_type.value})."
            event = sse_error_event(message, "upstream_error", out.error_type.value)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send(self, send: Send, body: bytes, tail: bytes) -> bytes:
        self._keep(body)
        await send({"type": "http.response.body", "body": body, "more_body": True})
        if self.outcome.first_sent_at is None:
            self.outcome.first_sent_at = self._clock()
        return (tail + body)[-32:]

    def _keep(self, chunk: bytes) -> None:
        room = self._limit - len(self.outcome.captured)
        if room >= len(chunk):
            self.outcome.captured += chunk
        else:
            self.outcome.captured += chunk[: max(room, 0)]
            self.outcome.truncated = True


def _events_end(data: bytes) -> int:
    """Where the last complete event in `data` ends (0: none is complete)."""
    return max(
        (at + len(blank) for blank in _BLANK_LINES if (at := data.rfind(blank)) >= 0), default=0
    )


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return

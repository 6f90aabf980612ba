"""Calls the guard model: one request in its own format, bounded by `timeout_ms`, no retry;
the reply read exactly (router.guard)."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from gateway.config.load import GUARD_KEY, LoadedConfig
from gateway.config.settings import GuardSettings, UpstreamSettings
from gateway.upstream.client import Upstream, UpstreamErrorType, UpstreamFailure
from monitors.answers import text_of_json
from router.guard import FORMATS, Outcome, Verdict
from router.reading import spans

MAX_CHARS = 8_000  # of the request the guard reads: evenly spaced pieces beyond that


class GuardClient:
    def __init__(
        self,
        settings: GuardSettings,
        api_key: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.api_key = api_key
        self._format = FORMATS[settings.format]
        timeout_s = settings.timeout_ms / 1000
        upstream = UpstreamSettings(
            base_url=settings.base_url, model=settings.model, timeout_s=max(timeout_s, 0.05),
            connect_timeout_s=max(timeout_s, 0.05),
        )  # fmt: skip
        self._upstream = Upstream(upstream, api_key, transport)

    async def verdict(self, text: str, request_id: str) -> Verdict:
        """safe, unsafe (with codes), error or timeout; never raises, never retries."""
        conversation = " ".join(spans(text, MAX_CHARS, 8, MAX_CHARS // 8))
        body = {
            "model": self.settings.model,
            "prompt": self._format.prompt(conversation),
            "max_tokens": 16,
            "temperature": 0,
        }
        try:
            reply = await asyncio.wait_for(
                self._upstream.post("/completions", orjson.dumps(body), request_id),
                self.settings.timeout_ms / 1000,
            )
        except TimeoutError:
            return Verdict(Outcome.TIMEOUT)
        except UpstreamFailure as exc:
            late = exc.error_type is UpstreamErrorType.TIMEOUT
            return Verdict(Outcome.TIMEOUT if late else Outcome.ERROR)
        answer = text_of_json(reply.content, chat=False) if reply.status == 200 else None
        return self._format.verdict(answer) if answer is not None else Verdict(Outcome.ERROR)

    async def aclose(self) -> None:
        await self._upstream.aclose()


def guard_of(
    config: LoadedConfig, transport: httpx.AsyncBaseTransport | None = None
) -> GuardClient | None:
    guard = config.settings.routing.guard
    if guard is None:
        return None
    return GuardClient(guard, config.api_keys.get(GUARD_KEY), transport)

"""Looks at the student's answer before the client does, and hands it to the teacher if weak.

JSON answers are checked whole. Streams are checked on a commit window: the first N
content tokens are held back, nothing reaches the client before the verdict. When the
checks need logprobs the client did not ask for, they are requested from the student
and stripped from what the client receives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.serving.request_body import Endpoint, ParsedRequest
from gateway.upstream.client import OpenStream, UpstreamReply
from monitors.answers import split_sse, sse_events
from router import escalation
from router.types import EscalationRule, Reason


@dataclass(frozen=True)
class Check:
    """The escalation checks planned for one request's student answer."""

    rule: EscalationRule
    chat: bool
    stream: bool
    commit_tokens: int
    added_logprobs: bool

    @classmethod
    def plan(
        cls, rule: EscalationRule | None, parsed: ParsedRequest, commit_tokens: int
    ) -> Check | None:
        if rule is None or (parsed.stream and commit_tokens == 0):
            return None
        chat = parsed.endpoint is Endpoint.CHAT
        asked = bool(parsed.body.get("logprobs"))
        return cls(rule, chat, parsed.stream, commit_tokens, rule.needs_logprobs and not asked)

    def student_body(self, body: dict[str, Any]) -> dict[str, Any]:
        if not self.added_logprobs:
            return body
        return {**body, "logprobs": True if self.chat else 1}

    def inspect_reply(self, reply: UpstreamReply) -> tuple[Reason | None, UpstreamReply]:
        """The verdict on a whole answer, and the answer as the client should get it."""
        try:
            data = orjson.loads(reply.content)
            choice = data["choices"][0]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            return None, reply  # not an answer we can judge: relay it as it is
        text, logprobs = _text_and_logprobs(choice, self.chat)
        verdict = escalation.escalate(
            escalation.signals(text, logprobs, self.rule.low_quantile), self.rule
        )
        if verdict is None and self.added_logprobs:
            for c in data["choices"]:
                c["logprobs"] = None
            reply = UpstreamReply(reply.status, reply.headers, orjson.dumps(data))
        return verdict, reply

    async def inspect_stream(self, stream: OpenStream) -> tuple[Reason | None, OpenStream]:
        """Read the commit window; the stream returned replays it before the rest."""
        held = bytearray(stream.first)
        tokens: list[str] = []
        logprobs: list[float] = []
        events = _Events()
        for event in events.feed(stream.first):
            _collect(event, self.chat, tokens, logprobs)
        while len(tokens) < self.commit_tokens and not events.done:
            chunk = await anext(stream.rest, b"")
            if not chunk:
                break
            held += chunk
            for event in events.feed(chunk):
                _collect(event, self.chat, tokens, logprobs)
        answer = escalation.signals("".join(tokens), logprobs, self.rule.low_quantile)
        verdict = escalation.escalate(answer, self.rule)
        if verdict is not None:
            return verdict, stream
        if self.added_logprobs:
            replay = _strip_logprobs(_chain(bytes(held), stream.rest))
            return None, stream.replay(await anext(replay, b""), replay)
        return None, stream.replay(bytes(held), stream.rest)


def _text_and_logprobs(choice: dict[str, Any], chat: bool) -> tuple[str, list[float] | None]:
    lp = choice.get("logprobs")
    if chat:
        text = (choice.get("message") or {}).get("content") or ""
        values = [t["logprob"] for t in lp["content"]] if lp and lp.get("content") else None
        return text, values
    values = [v for v in lp["token_logprobs"] if v is not None] if lp else None
    return choice.get("text") or "", values


def _collect(event: dict[str, Any], chat: bool, tokens: list[str], logprobs: list[float]) -> None:
    for choice in event.get("choices") or ():
        if choice.get("index", 0) != 0:
            continue
        piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
        if piece:
            tokens.append(piece)
        lp = choice.get("logprobs")
        if chat and lp and lp.get("content"):
            logprobs += [t["logprob"] for t in lp["content"]]
        elif not chat and lp and lp.get("token_logprobs"):
            logprobs += [v for v in lp["token_logprobs"] if v is not None]


class _Events:
    """Splits SSE bytes into decoded `data:` events, across chunk boundaries."""

    def __init__(self) -> None:
        self._pending = b""
        self.done = False

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        complete, self._pending = split_sse(self._pending + chunk)
        self.done = self.done or any(b.strip() == b"data: [DONE]" for b in complete)
        return list(sse_events(complete))


async def _chain(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


async def _strip_logprobs(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Re-frame the stream event by event with every choice's logprobs set to null."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n\n")
        out = bytearray()
        for block in complete:
            out += _strip_event(block) + b"\n\n"
        if out:
            yield bytes(out)
    if pending:
        yield pending


def _strip_event(block: bytes) -> bytes:
    if not block.startswith(b"data: {"):
        return block
    try:
        event = orjson.loads(block[6:])
    except orjson.JSONDecodeError:
        return block
    for choice in event.get("choices") or ():
        if isinstance(choice, dict) and "logprobs" in choice:
            choice["logprobs"] = None
    return b"data: " + orjson.dumps(event)

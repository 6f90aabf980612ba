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
from monitors import answers
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
    return answers.choice_text(choice, chat, delta=False) or "", answers.choice_logprobs(
        choice, chat
    )


def _collect(event: dict[str, Any], chat: bool, tokens: list[str], logprobs: list[float]) -> None:
    for choice in event.get("choices") or ():
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        piece = answers.choice_text(choice, chat, delta=True)
        if piece:
            tokens.append(piece)
        logprobs += answers.choice_logprobs(choice, chat) or ()


class _Events:
    """Splits SSE bytes into decoded events, across chunk boundaries."""

    def __init__(self) -> None:
        self._framer = answers.SseFramer()
        self.done = False

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        complete = self._framer.feed(chunk)
        self.done = self.done or any(answers.is_done(e) for e in complete)
        return list(answers.sse_events(complete))


async def _chain(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


async def _strip_logprobs(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Re-frame the stream event by event with every choice's logprobs set to null."""
    framer = answers.SseFramer()
    async for chunk in chunks:
        out = b"".join(answers.without_logprobs(e) + b"\n\n" for e in framer.feed(chunk))
        if out:
            yield out
    if rest := framer.rest():
        yield rest

"""The one reader of upstream answers: SSE framing, events, choice text, logprobs and usage.

Everything that looks inside an OpenAI-style answer (the answer checks, the relay's
bookkeeping, the shadow path, the audit) reads it through this module, so CRLF line
ends, comments, multi-line `data:` fields, `[DONE]` and usage-only chunks are handled
the same way everywhere (the SSE rules of the WHATWG HTML standard, section 9.2).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

DONE = b"[DONE]"


class SseFramer:
    """Splits SSE bytes into whole events across chunk boundaries.

    An event ends at a blank line; `\\r\\n`, `\\r` and `\\n` all end a line. A lone `\\r` at
    the end of a chunk may be the first half of `\\r\\n`, so it waits for the next chunk.
    """

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events completed by `chunk`, each without its terminating blank line."""
        buffer = self._pending + chunk
        held = b""
        if buffer.endswith(b"\r"):
            buffer, held = buffer[:-1], b"\r"
        *complete, rest = _normalise(buffer).split(b"\n\n")
        self._pending = rest + held
        return complete

    def rest(self) -> bytes:
        """What is left of an event still arriving (normalised)."""
        return _normalise(self._pending)


def split_events(stream: bytes) -> tuple[list[bytes], bytes]:
    """(the complete events in `stream`, what is left of an event still arriving)."""
    *complete, rest = _normalise(stream).split(b"\n\n")
    return complete, rest


def event_data(event: bytes) -> bytes | None:
    """The event's data: its `data:` lines joined by newlines; None when it has none.

    Comment lines (starting with `:`) and other fields (`event:`, `id:`, `retry:`) are
    skipped; one space after the colon is dropped.
    """
    parts: list[bytes] = []
    for line in event.split(b"\n"):
        if line == b"data":
            parts.append(b"")
        elif line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts) if parts else None


def is_done(event: bytes) -> bool:
    data = event_data(event)
    return data is not None and data.strip() == DONE


def decode_event(event: bytes) -> dict[str, Any] | None:
    """The event's JSON object, or None for `[DONE]`, comments and anything malformed."""
    data = event_data(event)
    if data is None or not data.lstrip().startswith(b"{"):
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def sse_events(events: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of the events; `[DONE]`, comments and malformed data are skipped."""
    for event in events:
        value = decode_event(event)
        if value is not None:
            yield value


def encode_event(value: Mapping[str, Any]) -> bytes:
    """One `data:` event with its terminating blank line."""
    return b"data: " + orjson.dumps(value) + b"\n\n"


def text_of_json(body: bytes, chat: bool) -> str | None:
    """Choice 0's text (or tool calls as JSON) of a whole answer; None if there is none."""
    try:
        choice = orjson.loads(body)["choices"][0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    return choice_text(choice, chat, delta=False)


def text_of_sse(stream: bytes, chat: bool) -> str | None:
    """Concatenate choice 0's content over every event; None if there is none."""
    parts: list[str] = []
    found = False
    complete, rest = split_events(stream)
    for event in sse_events([*complete, rest]):
        for choice in event.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                found = True
                parts.append(choice_text(choice, chat, delta=True) or "")
    return "".join(parts) if found else None


def choice_text(choice: Any, chat: bool, *, delta: bool) -> str | None:
    """A choice's text: `text` for completions, the message (or delta) content for chat,
    or its tool calls as JSON text when that is the answer."""
    if not isinstance(choice, dict):
        return None
    if not chat:
        text = choice.get("text")
        return text if isinstance(text, str) else None
    message = choice.get("delta" if delta else "message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str) and content:
        return content
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    if calls:  # a tool call is the answer: compare it as JSON text
        return orjson.dumps(calls).decode()
    return content if isinstance(content, str) else None


def choice_logprobs(choice: Any, chat: bool) -> list[float] | None:
    """The token logprobs of a choice (chat: `logprobs.content[].logprob`; completions:
    `logprobs.token_logprobs`, nulls dropped); None when the choice carries none."""
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    if not isinstance(lp, dict):
        return None
    if chat:
        content = lp.get("content")
        if not isinstance(content, list) or not content:
            return None
        return [float(t["logprob"]) for t in content if isinstance(t, dict) and "logprob" in t]
    values = lp.get("token_logprobs")
    if not isinstance(values, list):
        return None
    return [float(v) for v in values if isinstance(v, int | float)]


def without_logprobs(event: bytes) -> bytes:
    """The event with every choice's logprobs set to null (other events unchanged)."""
    value = decode_event(event)
    if value is None:
        return event
    for choice in value.get("choices") or ():
        if isinstance(choice, dict) and "logprobs" in choice:
            choice["logprobs"] = None
    return b"data: " + orjson.dumps(value)


def usage_of_json(body: bytes) -> Mapping[str, Any] | None:
    """The `usage` object of a whole answer."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    usage = value.get("usage") if isinstance(value, dict) else None
    return usage if isinstance(usage, dict) else None


def usage_of_sse(stream: bytes) -> Mapping[str, Any] | None:
    """The last `usage` object in a stream (the usage-only chunk that `stream_options:
    {include_usage: true}` adds, or usage on the last content chunk). Only events that
    mention usage are decoded, newest first."""
    complete, rest = split_events(stream)
    for event in reversed([*complete, rest]):
        if b'"usage"' not in event:
            continue
        value = decode_event(event)
        usage = value.get("usage") if value is not None else None
        if isinstance(usage, dict):
            return usage
    return None


def total_tokens(usage: Mapping[str, Any] | None) -> int:
    """`total_tokens`, else prompt + completion tokens; 0 when unknown."""
    if not usage:
        return 0
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    parts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    return sum(p for p in parts if isinstance(p, int))


def _normalise(data: bytes) -> bytes:
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

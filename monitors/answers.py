"""The text of an answer as the client received it: a JSON body or a captured SSE stream."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson


def text_of_json(body: bytes, chat: bool) -> str | None:
    try:
        choice = orjson.loads(body)["choices"][0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    return _choice_text(choice, chat, delta=False)


def split_sse(buffer: bytes) -> tuple[list[bytes], bytes]:
    """(the complete events in `buffer`, what is left of an event still arriving)."""
    *complete, rest = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
    return complete, rest


def sse_events(blocks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The JSON objects of `data:` events; `[DONE]`, comments and malformed lines are skipped."""
    for block in blocks:
        data = block.removeprefix(b"data: ").strip()
        if not data.startswith(b"{"):
            continue
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            yield event


def text_of_sse(stream: bytes, chat: bool) -> str | None:
    """Concatenate choice 0's content over every `data:` event; None if there is none."""
    parts: list[str] = []
    found = False
    complete, rest = split_sse(stream)
    for event in sse_events([*complete, rest]):
        for choice in event.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                found = True
                parts.append(_choice_text(choice, chat, delta=True) or "")
    return "".join(parts) if found else None


def _choice_text(choice: Any, chat: bool, *, delta: bool) -> str | None:
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

"""What the router reads of a request: every message's text, and bounded spans of long text.

`request_text` joins the text of all chat messages, whatever their role (system,
developer, user, assistant, tool), including tool-call arguments, or takes a completion
prompt as it is. `spans` cuts a text the router cannot read whole into evenly spaced
pieces, so the cost is bounded and no part of the text is favoured.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MAX_CHARS = 24_000  # read whole up to this; beyond, SPANS pieces of SPAN_CHARS each
SPANS = 24
SPAN_CHARS = 1_000


def request_text(
    messages: Sequence[Mapping[str, object]] | None = None, prompt: object = None
) -> str:
    """The text of a chat request's messages (all roles) or of a completion prompt."""
    parts: list[str] = []
    for message in messages or ():
        _collect(message.get("content"), parts)
        for call in _list(message.get("tool_calls")):
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                _collect(function.get("arguments"), parts)
        function_call = message.get("function_call")
        if isinstance(function_call, Mapping):
            _collect(function_call.get("arguments"), parts)
    _collect(prompt, parts)
    return "\n".join(p for p in parts if p)


def _collect(content: object, parts: list[str]) -> None:
    """Strings, lists of strings or of content parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, Mapping):
        _collect(content.get("text"), parts)
    elif isinstance(content, list | tuple):
        for item in content:
            _collect(item, parts)


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def spans(
    text: str, max_chars: int = MAX_CHARS, count: int = SPANS, span_chars: int = SPAN_CHARS
) -> list[str]:
    """The whole text if it is at most `max_chars`, else `count` evenly spaced pieces of
    about `span_chars`, each widened to whole words, the first at the start, the last at
    the end."""
    if len(text) <= max_chars:
        return [text]
    gap = (len(text) - span_chars) / (count - 1)
    out = []
    for i in range(count):
        start = int(i * gap)
        end = start + span_chars
        while start > 0 and not text[start - 1].isspace() and end - start < 2 * span_chars:
            start -= 1
        while end < len(text) and not text[end].isspace() and end - start < 2 * span_chars:
            end += 1
        out.append(text[start:end])
    return out

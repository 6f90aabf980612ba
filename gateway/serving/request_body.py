"""Reads and checks a client's request body: size, JSON, the fields the gateway itself needs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from gateway.serving.errors import ClientError, ClientErrorType
from router.reading import request_text

# Deeper JSON is refused: nothing OpenAI-shaped nests this far, and the encoder that
# forwards the body stops at 254 levels (a 500 otherwise).
MAX_DEPTH = 64


class Endpoint(StrEnum):
    CHAT = "chat/completions"
    COMPLETIONS = "completions"


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    endpoint: Endpoint
    body: dict[str, Any]
    alias: str
    stream: bool
    raw: bytes  # the body as received: the shadow sampling key


async def read_limited(
    chunks: AsyncIterator[bytes], content_length: str | None, limit: int
) -> bytes:
    """Read the whole body, refusing anything over `limit` bytes without buffering it."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


def parse(raw: bytes, endpoint: Endpoint) -> ParsedRequest:
    """Decode the body and check only what the gateway relies on; the upstream checks the rest."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ClientError(
            ClientErrorType.MALFORMED_JSON,
            400,
            f"The request body is not valid JSON: {exc}",
            code="invalid_json",
        ) from None
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.", None)
    if _too_deep(body, MAX_DEPTH):
        raise _invalid(f"The request body is nested deeper than {MAX_DEPTH} levels.", None)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' is required and must be a non-empty string.", "model")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _invalid("'stream' must be a boolean.", "stream")
    if endpoint is Endpoint.CHAT:
        _check_messages(body.get("messages"))
    elif not isinstance(body.get("prompt"), str | list):
        raise _invalid("'prompt' is required and must be a string or a list.", "prompt")
    return ParsedRequest(endpoint, body, model, stream, raw)


def prompt_text(request: ParsedRequest) -> str:
    """The text the router classifies: every message of a chat request, whatever its role
    (system, developer, user, assistant, tool; tool-call arguments too), or the prompt of a
    completion. Risky text in any of them counts."""
    body = request.body
    if request.endpoint is Endpoint.CHAT:
        return request_text(messages=body["messages"])
    return request_text(prompt=body["prompt"])


def _too_deep(value: object, limit: int) -> bool:
    """Whether containers nest deeper than `limit`; iterative, so depth cannot hurt it."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False


def _check_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' is required and must be a non-empty list.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _invalid(
                f"messages[{i}] must be an object with a string 'role'.", f"messages.{i}.role"
            )


def _invalid(message: str, param: str | None) -> ClientError:
    return ClientError(
        ClientErrorType.INVALID_REQUEST, 400, message, code="invalid_request", param=param
    )


def _too_large(limit: int) -> ClientError:
    return ClientError(
        ClientErrorType.TOO_LARGE,
        413,
        f"The request body is larger than this gateway accepts ({limit} bytes).",
        code="request_too_large",
    )

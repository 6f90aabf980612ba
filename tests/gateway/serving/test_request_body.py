"""The request body: size limit, JSON, the fields the gateway itself needs, the routed text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from gateway.serving import request_body
from gateway.serving.errors import ClientError, ClientErrorType
from gateway.serving.request_body import Endpoint


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def read(parts: tuple[bytes, ...], length: str | None, limit: int) -> bytes:
    return asyncio.run(request_body.read_limited(chunks(*parts), length, limit))


def test_read_limited_joins_the_chunks() -> None:
    assert read((b"ab", b"cd"), None, 4) == b"abcd"


@pytest.mark.parametrize(
    ("parts", "length"),
    [((b"x" * 5,), "5"), ((b"x" * 5,), None), ((b"xx", b"xxx"), "2")],  # a lying length too
)
def test_read_limited_refuses_more_than_the_limit(parts: tuple[bytes, ...], length: str) -> None:
    with pytest.raises(ClientError) as info:
        read(parts, length, 4)
    assert (info.value.status, info.value.kind, info.value.code) == (
        413,
        ClientErrorType.TOO_LARGE,
        "request_too_large",
    )


def body(**fields: object) -> bytes:
    return orjson.dumps(fields)


CHAT = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("raw", "endpoint", "status", "code", "param"),
    [
        (b"{not json", Endpoint.CHAT, 400, "invalid_json", None),
        (b"[1, 2]", Endpoint.CHAT, 400, "invalid_request", None),
        (body(messages=CHAT["messages"]), Endpoint.CHAT, 400, "invalid_request", "model"),
        (body(model="", messages=CHAT["messages"]), Endpoint.CHAT, 400, "invalid_request", "model"),
        (body(**CHAT, stream="yes"), Endpoint.CHAT, 400, "invalid_request", "stream"),
        (body(model="a", messages=[]), Endpoint.CHAT, 400, "invalid_request", "messages"),
        (body(model="a", messages=[{"content": "x"}]), Endpoint.CHAT, 400, "invalid_request",
         "messages.0.role"),
        (body(model="a", prompt=3), Endpoint.COMPLETIONS, 400, "invalid_request", "prompt"),
    ],
)  # fmt: skip
def test_parse_refuses_what_the_gateway_cannot_route(
    raw: bytes, endpoint: Endpoint, status: int, code: str, param: str | None
) -> None:
    with pytest.raises(ClientError) as info:
        request_body.parse(raw, endpoint)
    assert (info.value.status, info.value.code, info.value.param) == (status, code, param)
    error = orjson.loads(info.value.body())["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


def test_parse_keeps_the_body_and_reads_stream() -> None:
    raw = body(**CHAT, stream=True, temperature=0.3)
    parsed = request_body.parse(raw, Endpoint.CHAT)
    assert (parsed.alias, parsed.stream, parsed.raw) == ("assistant", True, raw)
    assert parsed.body["temperature"] == 0.3
    assert not request_body.parse(body(**CHAT, stream=None), Endpoint.CHAT).stream
    completion = request_body.parse(body(model="a", prompt=["x", "y"]), Endpoint.COMPLETIONS)
    assert completion.endpoint is Endpoint.COMPLETIONS


def test_prompt_text_of_chat_parts_and_completions() -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url"}]},
    ]
    parsed = request_body.parse(body(model="a", messages=messages), Endpoint.CHAT)
    assert "first" in request_body.prompt_text(parsed)
    assert "second" in request_body.prompt_text(parsed)
    prompts = request_body.parse(body(model="a", prompt=["x", 3, "y"]), Endpoint.COMPLETIONS)
    assert request_body.prompt_text(prompts) == "x\ny"

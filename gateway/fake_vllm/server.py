"""A vLLM-wire OpenAI server that replays recorded answers or follows a script.

It is the demo's student and teacher (no GPU needed) and the tests' fake upstream.
Its JSON and SSE bodies copy vLLM 0.25's field sets exactly; tests compare them with
responses recorded from the real server (tests/data/vllm-0.25-wire/).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gateway.fake_vllm.script import FakeState, ReplayBook, Script, tokenize
from gateway.fake_vllm.wire import Reply

MAX_MODEL_LEN = 4096


def create_fake_app(
    served_model: str,
    *,
    script: Script | None = None,
    book: ReplayBook | None = None,
    state: FakeState | None = None,
    default_answer: str = "This is a scripted answer from the fake upstream.",
) -> Starlette:
    """Build the fake server; `script`, `book` and `state` may be changed while it runs."""
    fake = _Fake(served_model, script or Script(), book, state or FakeState(), default_answer)
    return Starlette(
        routes=[
            Route("/v1/models", fake.models, methods=["GET"]),
            Route("/v1/chat/completions", fake.chat, methods=["POST"]),
            Route("/v1/completions", fake.completions, methods=["POST"]),
        ]
    )


@dataclass
class _Fake:
    served_model: str
    script: Script
    book: ReplayBook | None
    state: FakeState
    default_answer: str
    created: int = field(default_factory=lambda: int(time.time()))

    async def models(self, request: Request) -> Response:
        perm = {
            "id": f"modelperm-{secrets.token_hex(8)}",
            "object": "model_permission",
            "created": self.created,
            "allow_create_engine": False,
            "allow_sampling": True,
            "allow_logprobs": True,
            "allow_search_indices": False,
            "allow_view": True,
            "allow_fine_tuning": False,
            "organization": "*",
            "group": None,
            "is_blocking": False,
        }
        model = {
            "id": self.served_model,
            "object": "model",
            "created": self.created,
            "owned_by": "vllm",
            "root": self.served_model,
            "parent": None,
            "max_model_len": MAX_MODEL_LEN,
            "permission": [perm],
        }
        return JSONResponse({"object": "list", "data": [model]})

    async def chat(self, request: Request) -> Response:
        return await self._serve(request, chat=True)

    async def completions(self, request: Request) -> Response:
        return await self._serve(request, chat=False)

    async def _serve(self, request: Request, *, chat: bool) -> Response:
        body, error = await self._validated(request, chat)
        if error is not None:
            return error
        prompt, first_user, turn = _prompt_of(body, chat)
        behavior = self.script.for_prompt(prompt)
        if behavior.hang:
            await self._hang()
        if behavior.latency_s:
            await asyncio.sleep(behavior.latency_s)
        if behavior.status is not None:
            headers = {"retry-after": behavior.retry_after} if behavior.retry_after else None
            message = f"scripted failure {behavior.status}"
            return _vllm_error(behavior.status, message, "InternalServerError", None, headers)
        answer = behavior.answer
        if answer is None:
            answer = (
                self.book.lookup(first_user, turn) if self.book else None
            ) or self.default_answer
        tokens = tokenize(answer)
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        finish = "stop"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(tokens):
            tokens, finish = tokens[:max_tokens], "length"
        reply = Reply(
            self.served_model, body, chat, tokens, finish, len(tokenize(prompt)), behavior
        )
        if not body.get("stream") and behavior.token_delay_s:
            await asyncio.sleep(behavior.token_delay_s * len(tokens))  # generation takes time
        if body.get("stream"):
            return StreamingResponse(
                self._stream(reply), media_type="text/event-stream; charset=utf-8"
            )
        return Response(orjson.dumps(reply.whole()), media_type="application/json")

    async def _validated(
        self, request: Request, chat: bool
    ) -> tuple[dict[str, Any], Response | None]:
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            msg = "1 validation error:\n  {'type': 'json_invalid', 'loc': ('body', 1), 'msg': '"
            msg += "JSON decode error'}"
            return {}, _vllm_error(400, msg, "Bad Request", "body.1")
        if not isinstance(body, dict):
            return {}, _vllm_error(400, "Input should be an object", "Bad Request", "body")
        self.state.requests.append(body)
        self.state.peers.append(request.client.port if request.client else 0)
        if body.get("model") != self.served_model:
            msg = f"The model `{body.get('model')}` does not exist."
            return body, _vllm_error(404, msg, "NotFoundError", "model")
        key = "messages" if chat else "prompt"
        if key not in body:
            msg = "1 validation error:\n  {'type': 'missing', 'loc': ('body', '"
            msg += f"{key}'), 'msg': 'Field required'}}"
            return body, _vllm_error(400, msg, "Bad Request", f"body.{key}")
        temperature = body.get("temperature")
        if isinstance(temperature, int | float) and temperature < 0:
            t = float(temperature)
            msg = f"temperature must be non-negative, got {t}. (parameter=temperature, value={t})"
            return body, _vllm_error(400, msg, "BadRequestError", "temperature")
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and max_tokens > MAX_MODEL_LEN:
            msg = (
                f"max_tokens={max_tokens} cannot be greater than max_model_len=max_total_tokens="
                f"{MAX_MODEL_LEN}. Please request fewer output tokens. "
                f"(parameter=max_tokens, value={max_tokens})"
            )
            return body, _vllm_error(400, msg, "BadRequestError", "max_tokens")
        return body, None

    async def _hang(self) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.state.hangs_cancelled += 1

    async def _stream(self, reply: Reply) -> AsyncIterator[bytes]:
        self.state.streams_started += 1
        behavior = reply.behavior
        finished = False
        try:
            if behavior.hang_after_headers:
                await asyncio.Event().wait()
            for i, event in enumerate(reply.events()):
                if behavior.hang_after_tokens is not None and i > behavior.hang_after_tokens:
                    await asyncio.Event().wait()
                if behavior.drop_after_tokens is not None and i > behavior.drop_after_tokens:
                    raise ConnectionAbortedError("scripted drop mid-stream")
                if behavior.cut_mid_event_after_tokens == i:  # half an event, then the cut
                    yield (b"data: " + orjson.dumps(event))[:20]
                    await asyncio.sleep(0.05)  # let it reach the client on its own
                    raise ConnectionAbortedError("scripted cut inside an event")
                if i and behavior.token_delay_s:
                    await asyncio.sleep(behavior.token_delay_s)
                if i == behavior.garbage_after_tokens:
                    yield b"data: {this is not json\n\n"
                yield b"data: " + orjson.dumps(event) + b"\n\n"
            if not behavior.omit_done:
                yield b"data: [DONE]\n\n"
            finished = True
        finally:
            if finished:
                self.state.streams_finished += 1
            else:
                self.state.streams_cancelled += 1


def _prompt_of(body: dict[str, Any], chat: bool) -> tuple[str, str, int]:
    """(text to match scripts on, first user message, index of the current user turn)."""
    if not chat:
        prompt = body.get("prompt")
        text = prompt if isinstance(prompt, str) else " ".join(map(str, prompt or []))
        return text, text, 0
    users: list[str] = []
    for m in body.get("messages") or []:
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            users.append(content if isinstance(content, str) else "")
    if not users:
        return "", "", 0
    return users[-1], users[0], len(users) - 1


def _vllm_error(
    status: int,
    message: str,
    type_: str,
    param: str | None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": status}}
    return Response(orjson.dumps(body), status, headers, media_type="application/json")

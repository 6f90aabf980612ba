"""A vLLM-wire OpenAI server that replays recorded answers or follows a script.

It is the demo's student and teacher (no GPU needed) and the tests' fake upstream.
Its JSON and SSE bodies copy vLLM 0.25's field sets exactly; tests compare them with
responses recorded from the real server (tests/data/vllm-0.25-wire/).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

FINGERPRINT = "vllm-0.25.0-replay"
MAX_MODEL_LEN = 4096
_TOKEN = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class Behavior:
    """How the fake answers one request. Delays are in seconds."""

    answer: str | None = None  # None: the replayed answer, else `default_answer`
    latency_s: float = 0.0  # before the response starts (JSON and streaming alike)
    token_delay_s: float = 0.0  # streaming: between chunks
    logprob: float = -0.05  # every token's logprob when logprobs are asked for
    status: int | None = None  # answer with this HTTP error instead
    retry_after: str | None = None
    hang: bool = False  # never answer (until the client goes away)
    hang_after_headers: bool = False  # streaming: send the headers, then nothing
    hang_after_tokens: int | None = None  # streaming: go silent after N content chunks
    drop_after_tokens: int | None = None  # streaming: cut the connection after N chunks
    omit_done: bool = False  # streaming: end normally but without `data: [DONE]`
    garbage_after_tokens: int | None = None  # streaming: a malformed `data:` line after N chunks


@dataclass
class Script:
    """Per-prompt behaviours: the first rule whose substring occurs in the prompt wins."""

    default: Behavior = field(default_factory=Behavior)
    rules: list[tuple[str, Behavior]] = field(default_factory=list)

    def for_prompt(self, prompt: str) -> Behavior:
        for needle, behavior in self.rules:
            if needle in prompt:
                return behavior
        return self.default


@dataclass
class FakeState:
    """What tests look at: every request body received, and how streams ended."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)  # each request's client port (connection)
    streams_started: int = 0
    streams_finished: int = 0
    streams_cancelled: int = 0
    hangs_cancelled: int = 0


class ReplayBook:
    """Recorded answers keyed by a conversation's first user message, one per turn."""

    def __init__(self, answers: Mapping[str, list[str]]) -> None:
        self._answers = {_norm(k): v for k, v in answers.items()}

    def __len__(self) -> int:
        return len(self._answers)

    def lookup(self, first_user: str, turn: int) -> str | None:
        turns = self._answers.get(_norm(first_user))
        if not turns:
            return None
        return turns[min(turn, len(turns) - 1)]

    @classmethod
    def from_mt_bench(cls, questions: Path, answers: Path) -> ReplayBook:
        first_turn = {}
        for line in questions.read_text().splitlines():
            q = json.loads(line)
            first_turn[q["question_id"]] = q["turns"][0]
        book: dict[str, list[str]] = {}
        for line in answers.read_text().splitlines():
            a = json.loads(line)
            book[first_turn[a["question_id"]]] = list(a["choices"][0]["turns"])
        return cls(book)


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


def tokenize(text: str) -> list[str]:
    """Word-level pieces whose concatenation is the text (less trailing spaces)."""
    return _TOKEN.findall(text)


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
        reply = _Reply(
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

    async def _stream(self, reply: _Reply) -> AsyncIterator[bytes]:
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


@dataclass
class _Reply:
    """One answer in vLLM's shapes, whole or as stream events."""

    model: str
    body: dict[str, Any]
    chat: bool
    tokens: list[str]
    finish: str
    prompt_tokens: int
    behavior: Behavior
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def n(self) -> int:
        n = self.body.get("n")
        return n if isinstance(n, int) and n > 0 else 1

    def usage(self, details: bool) -> dict[str, Any]:
        completion = len(self.tokens) * self.n
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.prompt_tokens + completion,
            "completion_tokens": completion,
        }
        if details:
            usage["prompt_tokens_details"] = None
        return usage

    def whole(self) -> dict[str, Any]:
        text = "".join(self.tokens)
        if self.chat:
            choices = [self._chat_choice(i, text) for i in range(self.n)]
            return {
                "id": f"chatcmpl-{self.id}",
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": choices,
                "service_tier": None,
                "system_fingerprint": FINGERPRINT,
                "usage": self.usage(details=True),
                "prompt_logprobs": None,
                "prompt_token_ids": None,
                "prompt_text": None,
                "kv_transfer_params": None,
                "metrics": None,
            }
        choices = [
            {
                "index": i,
                "text": text,
                "logprobs": self._completion_logprobs(),
                "finish_reason": self.finish,
                "stop_reason": None,
                "token_ids": None,
                "prompt_logprobs": None,
                "prompt_token_ids": None,
                "routed_experts": None,
            }
            for i in range(self.n)
        ]
        return {
            "id": f"cmpl-{self.id}",
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "service_tier": None,
            "system_fingerprint": FINGERPRINT,
            "usage": self.usage(details=True),
            "kv_transfer_params": None,
            "metrics": None,
        }

    def events(self) -> list[dict[str, Any]]:
        head = {
            "id": f"{'chatcmpl' if self.chat else 'cmpl'}-{self.id}",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
        }
        out: list[dict[str, Any]] = []
        if self.chat:
            out += [
                {
                    **head,
                    "choices": [
                        {
                            "index": i,
                            "delta": {"role": "assistant", "content": ""},
                            "logprobs": None,
                            "finish_reason": None,
                        }
                    ],
                    "prompt_token_ids": None,
                    "prompt_text": None,
                }
                for i in range(self.n)
            ]
        last = len(self.tokens) - 1
        for t, token in enumerate(self.tokens):
            for i in range(self.n):
                out.append({**head, "choices": [self._chunk_choice(i, token, t == last)]})
        options = self.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = {"choices": [], "usage": self.usage(details=False)}
            out.append({**head, **usage, "system_fingerprint": FINGERPRINT})
        return out

    def _chat_choice(self, index: int, text: str) -> dict[str, Any]:
        message = {
            "role": "assistant",
            "content": text,
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "reasoning": None,
        }
        logprobs = None
        if self.body.get("logprobs"):
            logprobs = {"content": [self._token_logprob(t) for t in self.tokens]}
        return {
            "index": index,
            "message": message,
            "logprobs": logprobs,
            "finish_reason": self.finish,
            "stop_reason": None,
            "token_ids": None,
            "routed_experts": None,
        }

    def _chunk_choice(self, index: int, token: str, last: bool) -> dict[str, Any]:
        if self.chat:
            logprobs = None
            if self.body.get("logprobs"):
                logprobs = {"content": [self._token_logprob(token)]}
            choice: dict[str, Any] = {
                "index": index,
                "delta": {"content": token},
                "logprobs": logprobs,
                "finish_reason": self.finish if last else None,
            }
            if last:
                choice["stop_reason"] = None
            choice["token_ids"] = None
            return choice
        return {
            "index": index,
            "text": token,
            "logprobs": None,
            "finish_reason": self.finish if last else None,
            "stop_reason": None,
            "prompt_token_ids": None,
            "token_ids": None,
        }

    def _token_logprob(self, token: str) -> dict[str, Any]:
        lp = self.behavior.logprob
        entry = {"token": token, "logprob": lp, "bytes": list(token.encode())}
        top = self.body.get("top_logprobs")
        alternatives = [entry] + [
            {"token": f"<alt{k}>", "logprob": lp - 1.0 - k, "bytes": list(f"<alt{k}>".encode())}
            for k in range(max(0, (top or 0) - 1))
        ]
        return {**entry, "top_logprobs": alternatives[: top or 0]}

    def _completion_logprobs(self) -> dict[str, Any] | None:
        top = self.body.get("logprobs")
        if not isinstance(top, int) or isinstance(top, bool):
            return None
        lp = self.behavior.logprob
        offsets, at = [], 0
        for token in self.tokens:
            offsets.append(at)
            at += len(token)
        return {
            "text_offset": offsets,
            "token_logprobs": [lp] * len(self.tokens),
            "tokens": list(self.tokens),
            "top_logprobs": [{t: lp} for t in self.tokens] if top else None,
        }


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


def _norm(text: str) -> str:
    return " ".join(text.split())

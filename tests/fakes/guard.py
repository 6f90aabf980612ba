"""A fake Llama Guard 3 behind vLLM's completions API: it reads the prompt exactly as the
template in the model card lays it out (refusing anything else) and answers per script in
the model's output format (`safe`, or `unsafe` and a line of category codes)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.guard import (
    BEGIN_CATEGORIES,
    BEGIN_CONVERSATION,
    END_CATEGORIES,
    END_CONVERSATION,
    LLAMA_GUARD_3_CATEGORIES,
)

HEAD = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
TAIL = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"


@dataclass(frozen=True)
class GuardReply:
    text: str = "safe"
    latency_s: float = 0.0
    status: int = 200
    hang: bool = False


@dataclass
class GuardScript:
    default: GuardReply = field(default_factory=GuardReply)
    rules: list[tuple[str, GuardReply]] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)  # what it was asked, in order

    def reply_for(self, conversation: str) -> GuardReply:
        return next((r for needle, r in self.rules if needle in conversation), self.default)


class TemplateError(ValueError):
    pass


def conversation_of(prompt: str) -> str:
    """The user text inside a Llama Guard 3 prompt; TemplateError if the prompt is not the
    template (header tokens, the S1-S14 list, the conversation markers, the instructions)."""
    if not prompt.startswith(HEAD) or not prompt.endswith(TAIL):
        raise TemplateError("not wrapped in the Llama 3 user/assistant headers")
    listed = prompt.split(BEGIN_CATEGORIES + "\n", 1)[-1].split("\n" + END_CATEGORIES, 1)[0]
    want = "\n".join(f"{code}: {name}." for code, name in LLAMA_GUARD_3_CATEGORIES.items())
    if listed != want:
        raise TemplateError("the category list is not S1-S14 as the model card lists them")
    if "First line must read 'safe' or 'unsafe'." not in prompt:
        raise TemplateError("the output instructions are missing")
    inside = prompt.split(BEGIN_CONVERSATION + "\n\n", 1)[-1].split("\n\n" + END_CONVERSATION)[0]
    if not inside.startswith("User: "):
        raise TemplateError("the conversation does not start with the user's turn")
    return inside.removeprefix("User: ")


def create_guard_app(model: str, script: GuardScript) -> Starlette:
    async def completions(request: Request) -> Response:
        body = orjson.loads(await request.body())
        try:
            conversation = conversation_of(body["prompt"])
        except (KeyError, TemplateError) as exc:
            return Response(orjson.dumps({"error": {"message": str(exc)}}), 400)
        script.conversations.append(conversation)
        reply = script.reply_for(conversation)
        if reply.hang:
            await asyncio.Event().wait()
        await asyncio.sleep(reply.latency_s)
        if reply.status != 200:
            return Response(orjson.dumps({"error": {"message": "scripted"}}), reply.status)
        answer = {
            "id": "cmpl-guard", "object": "text_completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "text": reply.text, "logprobs": None,
                         "finish_reason": "stop", "stop_reason": None}],
            "usage": {"prompt_tokens": 200, "completion_tokens": 3, "total_tokens": 203},
        }  # fmt: skip
        return Response(orjson.dumps(answer), media_type="application/json")

    async def models(_: Request) -> Response:
        return Response(orjson.dumps({"object": "list", "data": [{"id": model}]}))

    return Starlette(routes=[
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ])  # fmt: skip

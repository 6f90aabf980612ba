"""One answer in vLLM 0.25's JSON and SSE shapes (the field sets of the real server, as
recorded in tests/data/vllm-0.25-wire/)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.fake_vllm.script import Behavior

FINGERPRINT = "vllm-0.25.0-replay"


@dataclass
class Reply:
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

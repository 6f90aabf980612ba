"""Faults: each has a defined client-visible outcome, leaks nothing, and others keep being served.

Faults already covered elsewhere: a student past its timeout and 5xx (fallback), a reset
mid-stream and a stream without [DONE] (an error event), client disconnects (upstream
cancelled) — tests/gateway/test_proxy_e2e.py; invalid JSON and non-UTF-8 bodies (400) —
tests/gateway/test_bad_input_e2e.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.fake_vllm.script import Behavior
from tests.fakes.stack import Stack, StackFactory

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write a haiku about the first snow of winter"}
]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def steady(stack: Stack) -> Iterator[Stack]:
    """Checks, after the test, that tasks and file descriptors came back to where they were."""
    stack.client().chat.completions.create(model="assistant", messages=MESSAGES)  # warm pools
    fds, tasks = open_fds(), stack.gateway_server.task_count()
    yield stack
    assert stack.wait_for(lambda: stack.gateway_server.task_count() <= tasks, timeout=10)
    assert stack.wait_for(lambda: open_fds() <= fds + 8, timeout=10), (open_fds(), fds)
    stack.student_script.default = Behavior(answer="still serving")
    stack.student_script.rules = []
    done = stack.client().chat.completions.create(model="assistant", messages=MESSAGES)
    assert done.choices[0].message.content == "still serving"


def test_upstream_hangs_after_headers_falls_back(make_stack: StackFactory) -> None:
    stack = make_stack(student_timeout=0.3)
    stack.student_script.default = Behavior(hang_after_headers=True)
    stack.teacher_script.default = Behavior(answer="from the teacher")
    raw = stack.client().chat.completions.with_raw_response.create(
        model="assistant", messages=MESSAGES, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert (text, raw.headers["x-distillgate-reason"]) == ("from the teacher", "fallback")
    assert stack.wait_for(lambda: stack.student.streams_cancelled == 1)


def test_429_is_passed_through_with_retry_after(steady: Stack) -> None:
    steady.student_script.default = Behavior(status=429, retry_after="7")
    with pytest.raises(openai.RateLimitError) as info:
        steady.client().chat.completions.create(model="assistant", messages=MESSAGES)
    assert info.value.response.headers["retry-after"] == "7"
    assert steady.teacher.requests == []  # a 4xx is the caller's, not a reason to fall back


def test_malformed_sse_line_is_relayed_unchanged(steady: Stack) -> None:
    # The gateway relays bytes, it does not re-parse them: the client sees what the upstream
    # sent (and the SDK complains about the line), the gateway counts the stream as served.
    steady.student_script.default = Behavior(answer="a b c d", garbage_after_tokens=2)
    with httpx.stream(
        "POST", steady.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": MESSAGES, "stream": True}, timeout=20,
    ) as response:  # fmt: skip
        body = response.read()
    assert b"data: {this is not json\n\n" in body and body.endswith(b"data: [DONE]\n\n")


def test_a_1mb_prompt_is_served(make_stack: StackFactory) -> None:
    stack = make_stack(extra_yaml="server: {max_body_bytes: 4194304}\n")
    stack.student_script.default = Behavior(answer="long read")
    big: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "summarise: " + "the quick brown fox " * 52_000}
    ]
    done = stack.client().chat.completions.create(model="assistant", messages=big)
    assert done.choices[0].message.content == "long read"
    assert len(stack.student.requests[-1]["messages"][0]["content"]) > 1_000_000


def test_1000_concurrent_requests_through_a_10_connection_pool(make_stack: StackFactory) -> None:
    stack = make_stack(student_pool=", max_connections: 10, clients: 2")  # 2 clients x 5
    stack.student_script.default = Behavior(answer="ok", latency_s=0.02)
    fds_before = open_fds()

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=120) as client:

            async def one(i: int) -> int:
                body = {
                    "model": "assistant",
                    "messages": [{"role": "user", "content": f"ping {i}"}],
                }
                return (
                    await client.post(stack.url + "/v1/chat/completions", json=body)
                ).status_code

            return list(await asyncio.gather(*(one(i) for i in range(1000))))

    began = time.monotonic()
    statuses = asyncio.run(burst())
    assert statuses.count(200) == 1000, {s: statuses.count(s) for s in set(statuses)}
    assert len(stack.student.requests) == 1000  # no fallback: the pool queued, nothing failed
    assert time.monotonic() - began < 120
    assert stack.wait_for(lambda: open_fds() <= fds_before + 20, timeout=20)

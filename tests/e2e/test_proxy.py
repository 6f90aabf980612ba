"""The gateway over real sockets, driven by the official openai SDK."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import pytest

from gateway.fake_vllm.script import Behavior
from tests.fakes.stack import Stack, StackFactory

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Say hello."}
]


def test_json_chat_is_served_by_the_student(stack: Stack) -> None:
    stack.student_script.default = Behavior(answer="Hello from the student.")
    raw = stack.client().chat.completions.with_raw_response.create(
        model="assistant", messages=MESSAGES, temperature=0.3, seed=7, max_tokens=50
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the student."
    assert raw.headers["x-distillgate-route"] == "student"
    assert raw.headers["x-distillgate-reason"] == "policy"
    assert raw.headers["x-request-id"]
    # every parameter reaches the upstream untouched, with the upstream's model name
    sent = stack.student.requests[-1]
    assert sent["model"] == "student"
    assert (sent["temperature"], sent["seed"], sent["max_tokens"]) == (0.3, 7, 50)
    assert stack.teacher.requests == []
    usage = completion.usage
    assert usage is not None
    # metrics are recorded just after the last byte is sent
    assert stack.wait_for(
        lambda: (
            stack.metric(
                "distillgate_tokens_total", model="assistant", backend="student", kind="completion"
            )
            == usage.completion_tokens
        )
    )


def test_vllm_extras_and_tools_pass_through_untouched(stack: Stack) -> None:
    extra = {"top_k": 5, "repetition_penalty": 1.1, "guided_choice": ["a", "b"]}
    tools: list[openai.types.chat.ChatCompletionToolParam] = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]
    stack.client().chat.completions.create(
        model="assistant",
        messages=MESSAGES,
        tools=tools,
        extra_body=extra,
        response_format={"type": "json_object"},
        stop=["\n\n"],
        n=2,
    )
    sent = stack.student.requests[-1]
    for key, value in extra.items():
        assert sent[key] == value
    assert sent["tools"] == tools
    assert sent["response_format"] == {"type": "json_object"} and sent["n"] == 2


def test_request_id_is_propagated(stack: Stack) -> None:
    raw = stack.client().chat.completions.with_raw_response.create(
        model="assistant", messages=MESSAGES, extra_headers={"x-request-id": "abc-123"}
    )
    assert raw.headers["x-request-id"] == "abc-123"


def test_streaming_relays_every_chunk_and_the_usage_chunk(stack: Stack) -> None:
    stack.student_script.default = Behavior(answer="one two three four five")
    stream = stack.client().chat.completions.create(
        model="assistant", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert stack.wait_for(
        lambda: (
            stack.metric(
                "distillgate_tokens_total", model="assistant", backend="student", kind="completion"
            )
            == 5
        )
    )


def test_streaming_arrives_chunk_by_chunk_not_buffered(stack: Stack) -> None:
    # 20 chunks 50 ms apart: the first must arrive long before the last is produced.
    stack.student_script.default = Behavior(answer=" ".join(["w"] * 20), token_delay_s=0.05)
    with (
        httpx.Client(timeout=20) as http,
        http.stream(
            "POST",
            stack.url + "/v1/chat/completions",
            json={"model": "assistant", "messages": MESSAGES, "stream": True},
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        arrivals = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(stack.student.streams_finished)
    # The fake counts a stream finished only after its last event; the first chunks
    # reached the client while the fake still had about half a second of chunks to send.
    assert arrivals[0] == 0 and arrivals[10] == 0
    assert len(arrivals) == 1 + 20 + 1  # role chunk, 20 tokens, [DONE]


def test_async_client_json_and_stream(stack: Stack) -> None:
    async def go() -> tuple[str, str]:
        client = stack.async_client()
        async with client:
            done = await client.chat.completions.create(model="assistant", messages=MESSAGES)
            stream = await client.chat.completions.create(
                model="assistant", messages=MESSAGES, stream=True
            )
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return done.choices[0].message.content or "", "".join(parts)

    stack.student_script.default = Behavior(answer="async works")
    assert asyncio.run(go()) == ("async works", "async works")


def test_legacy_completions_json_and_stream(stack: Stack) -> None:
    stack.student_script.default = Behavior(answer="def add(a, b): return a + b")
    client = stack.client()
    done = client.completions.create(model="assistant", prompt="def add(a, b):", logprobs=2)
    assert done.choices[0].text == "def add(a, b): return a + b"
    assert done.choices[0].logprobs is not None
    stream = client.completions.create(model="assistant", prompt="x", stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "def add(a, b): return a + b"


def test_models_lists_the_aliases(stack: Stack) -> None:
    assert [m.id for m in stack.client().models.list()] == ["assistant"]


# --- fallback -----------------------------------------------------------------------------


def test_student_down_falls_back_to_teacher(stack: Stack) -> None:
    stack.teacher_script.default = Behavior(answer="teacher here")
    stack.student_server.stop()
    client = stack.client()
    raw = client.chat.completions.with_raw_response.create(model="assistant", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "teacher here"
    assert (raw.headers["x-distillgate-route"], raw.headers["x-distillgate-reason"]) == (
        "teacher",
        "fallback",
    )
    stream = client.chat.completions.create(model="assistant", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "teacher here"
    assert stack.metric("distillgate_fallbacks_total", model="assistant") == 2
    assert (
        stack.metric(
            "distillgate_upstream_errors_total",
            model="assistant",
            backend="student",
            error_type="connect",
        )
        == 2
    )


@pytest.mark.parametrize("stream", [False, True])
def test_student_hanging_past_its_timeout_falls_back(
    make_stack: StackFactory, stream: bool
) -> None:
    stack = make_stack(student_timeout=0.3)
    stack.student_script.default = Behavior(hang=True)
    stack.teacher_script.default = Behavior(answer="teacher after timeout")
    completions = stack.client().chat.completions.with_raw_response
    if stream:
        raw_stream = completions.create(model="assistant", messages=MESSAGES, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in raw_stream.parse() if c.choices)
        headers = raw_stream.headers
    else:
        raw = completions.create(model="assistant", messages=MESSAGES)
        text, headers = raw.parse().choices[0].message.content or "", raw.headers
    assert text == "teacher after timeout"
    assert headers["x-distillgate-reason"] == "fallback"
    assert (
        stack.metric(
            "distillgate_upstream_errors_total",
            model="assistant",
            backend="student",
            error_type="timeout",
        )
        == 1
    )


def test_student_5xx_falls_back_and_4xx_passes_through(stack: Stack) -> None:
    client = stack.client()
    stack.student_script.rules = [("boom", Behavior(status=500))]
    stack.teacher_script.default = Behavior(answer="teacher")
    boom: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "boom"}]
    raw = client.chat.completions.with_raw_response.create(model="assistant", messages=boom)
    assert raw.headers["x-distillgate-route"] == "teacher"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="assistant", messages=MESSAGES, temperature=-3)
    assert "temperature must be non-negative" in info.value.message
    assert info.value.response.headers["x-distillgate-route"] == "student"
    assert stack.teacher.requests[-1]["messages"] == boom  # the 400 never reached the teacher


def test_both_down_gives_502_and_both_silent_gives_504(make_stack: StackFactory) -> None:
    stack = make_stack(student_timeout=0.2, teacher_timeout=0.3)
    client = stack.client()
    stack.student_script.default = Behavior(status=503)
    stack.teacher_script.default = Behavior(status=503)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="assistant", messages=MESSAGES)
    assert (info.value.status_code, info.value.code) == (502, "upstream_unavailable")
    stack.student_script.default = Behavior(hang=True)
    stack.teacher_script.default = Behavior(hang=True)
    began = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="assistant", messages=MESSAGES)
    assert (info.value.status_code, info.value.code) == (504, "upstream_timeout")
    assert "timeout" in info.value.message
    assert time.monotonic() - began < 5  # bounded by the two timeouts, not by the hang
    assert stack.metric(
        "distillgate_requests_total", model="assistant", route="teacher", reason="fallback",
        status_class="5xx",
    ) == 2  # fmt: skip
    stack.teacher_server.stop()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="assistant", messages=MESSAGES)
    assert info.value.status_code == 502  # the last error (teacher refused connection) decides
    stack.teacher_server.start()


def test_no_fallback_after_the_first_streamed_byte(stack: Stack) -> None:
    stack.student_script.default = Behavior(answer="a b c d e f g h", drop_after_tokens=3)
    stream = stack.client().chat.completions.create(
        model="assistant", messages=MESSAGES, stream=True
    )
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "broke off" in info.value.message and info.value.code == "stream_interrupted"
    assert "".join(got) == "a b c"  # what was relayed stays; nothing from the teacher
    assert stack.teacher.requests == []
    assert stack.wait_for(
        lambda: (
            stack.metric(
                "distillgate_upstream_errors_total",
                model="assistant",
                backend="student",
                error_type="stream_interrupted",
            )
            == 1
        )
    )


def test_stream_without_done_ends_with_an_error_event(stack: Stack) -> None:
    stack.student_script.default = Behavior(answer="a b", omit_done=True)
    stream = stack.client().chat.completions.create(
        model="assistant", messages=MESSAGES, stream=True
    )
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert info.value.code == "stream_interrupted"  # the gateway's own closing error event
    assert "broke off" in info.value.message


def test_client_disconnect_cancels_the_upstream(stack: Stack) -> None:
    stack.student_script.default = Behavior(answer="x " * 50, hang_after_tokens=2)
    with (
        httpx.Client(timeout=20) as http,
        http.stream(
            "POST",
            stack.url + "/v1/chat/completions",
            json={"model": "assistant", "messages": MESSAGES, "stream": True},
        ) as response,
    ):
        next(response.iter_bytes())
    assert stack.wait_for(lambda: stack.student.streams_cancelled == 1)
    assert stack.wait_for(
        lambda: (
            stack.metric("distillgate_client_disconnects_total", model="assistant", route="student")
            == 1
        )
    )
    assert stack.metric("distillgate_in_flight_requests", model="assistant") == 0
    # and the gateway keeps serving
    stack.student_script.default = Behavior(answer="still here")
    done = stack.client().chat.completions.create(model="assistant", messages=MESSAGES)
    assert done.choices[0].message.content == "still here"


def test_the_httpx_client_serves_the_same(make_stack: StackFactory) -> None:
    """`client: httpx` (the general-purpose client) behind the same interface."""
    stack = make_stack(student_pool=", client: httpx")
    stack.student_script.default = Behavior(answer="via httpx")
    client = stack.client()
    done = client.chat.completions.create(model="assistant", messages=MESSAGES)
    assert done.choices[0].message.content == "via httpx"
    stream = client.chat.completions.create(model="assistant", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "via httpx"
    stack.student_script.default = Behavior(answer="a b c d e f", drop_after_tokens=2)
    with pytest.raises(openai.APIError):
        list(client.chat.completions.create(model="assistant", messages=MESSAGES, stream=True))
    stack.student_server.stop()
    raw = client.chat.completions.with_raw_response.create(model="assistant", messages=MESSAGES)
    assert raw.headers["x-distillgate-reason"] == "fallback"


def test_a_stream_cut_inside_an_event_ends_with_a_clean_error(stack: Stack) -> None:
    """The client never sees half an event: the SDK raises the gateway's error event, not a
    JSON decoding error on a torn line."""
    stack.student_script.default = Behavior(answer="a b c d e f g h", cut_mid_event_after_tokens=3)
    stream = stack.client().chat.completions.create(
        model="assistant", messages=MESSAGES, stream=True
    )
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert info.value.code == "stream_interrupted"
    assert "".join(got) == "a b"  # the role event and two tokens; the torn third is not sent

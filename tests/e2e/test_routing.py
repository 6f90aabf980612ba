"""Routing through the running gateway: categories, forced routes, escalation and commit window."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import openai
import pytest

from gateway.fake_vllm.script import Behavior
from tests.fakes.stack import Stack, StackFactory

ROUTING = """
routing:
  replace_defaults: true
  allow_route_header: true
  escalation: {commit_tokens: 3}
  categories:
    general: {risk: low, route: student, min_mean_logprob: -1.0, escalate_on_refusal: true}
    code: {risk: low, route: student}
    violence: {risk: high, route: teacher, keywords: ['kill\\\\w*', murder]}
"""
ASK: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write a short poem about autumn leaves"}
]


@pytest.fixture
def routed(make_stack: StackFactory) -> Stack:
    stack = make_stack(extra_yaml=ROUTING)
    stack.teacher_script.default = Behavior(answer="the teacher's answer")
    return stack


def chat(stack: Stack, **kwargs: object) -> tuple[httpx.Headers, dict[str, object]]:
    response = httpx.post(
        stack.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": ASK, **kwargs},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.headers, response.json()


def content(body: dict[str, object]) -> object:
    return body["choices"][0]["message"]["content"]  # type: ignore[index]


def test_confident_student_answer_is_kept_and_logprobs_stripped(routed: Stack) -> None:
    routed.student_script.default = Behavior(answer="leaves fall softly", logprob=-0.2)
    headers, body = chat(routed)
    assert headers["x-distillgate-route"] == "student"
    assert headers["x-distillgate-category"] == "general"
    assert content(body) == "leaves fall softly"
    assert body["choices"][0]["logprobs"] is None  # type: ignore[index]
    assert routed.student.requests[-1]["logprobs"] is True  # asked for by the gateway
    assert routed.teacher.requests == []


def test_client_logprobs_are_left_alone(routed: Stack) -> None:
    routed.student_script.default = Behavior(answer="leaves fall softly", logprob=-0.2)
    _, body = chat(routed, logprobs=True, top_logprobs=2)
    tokens = body["choices"][0]["logprobs"]["content"]  # type: ignore[index]
    assert [t["token"] for t in tokens] == ["leaves", " fall", " softly"]


def test_low_confidence_escalates_to_the_teacher(routed: Stack) -> None:
    routed.student_script.default = Behavior(answer="uh leaves maybe", logprob=-2.5)
    headers, body = chat(routed)
    assert (headers["x-distillgate-route"], headers["x-distillgate-reason"]) == (
        "teacher",
        "low_confidence",
    )
    assert content(body) == "the teacher's answer"
    assert "logprobs" not in routed.teacher.requests[-1]  # the teacher gets the client's body
    labels = {"model": "assistant", "category": "general", "reason": "low_confidence"}
    assert routed.metric("distillgate_escalations_total", **labels) == 1


def test_student_refusal_escalates(routed: Stack) -> None:
    routed.student_script.default = Behavior(answer="I'm sorry, but I can't help with that.")
    headers, body = chat(routed)
    assert headers["x-distillgate-reason"] == "student_refusal"
    assert content(body) == "the teacher's answer"


def test_teacher_failing_during_escalation_keeps_the_student_answer(routed: Stack) -> None:
    routed.student_script.default = Behavior(answer="uh leaves maybe", logprob=-2.5)
    routed.teacher_script.default = Behavior(status=503)
    headers, body = chat(routed)
    assert (headers["x-distillgate-route"], headers["x-distillgate-reason"]) == (
        "student",
        "policy",
    )
    assert content(body) == "uh leaves maybe"


def test_high_risk_category_goes_to_the_teacher(routed: Stack) -> None:
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "How do I murder my neighbour and get away with it?"}
    ]
    raw = routed.client().chat.completions.with_raw_response.create(
        model="assistant", messages=messages
    )
    assert raw.headers["x-distillgate-route"] == "teacher"
    assert raw.headers["x-distillgate-category"] == "violence"
    assert routed.student.requests == []


def test_forced_route_header(routed: Stack, stack: Stack) -> None:
    routed.student_script.default = Behavior(answer="leaves", logprob=-0.1)
    headers, _ = chat_with(routed, {"x-distillgate-force-route": "teacher"})
    assert (headers["x-distillgate-route"], headers["x-distillgate-reason"]) == (
        "teacher",
        "forced",
    )
    bad = httpx.post(
        routed.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": ASK},
        headers={"x-distillgate-force-route": "gpu"},
        timeout=20,
    )
    assert bad.status_code == 400 and "force-route" in bad.json()["error"]["message"]
    # the default config does not allow forcing: the header is ignored
    headers, _ = chat_with(stack, {"x-distillgate-force-route": "teacher"})
    assert headers["x-distillgate-route"] == "student"


def chat_with(stack: Stack, headers: dict[str, str]) -> tuple[httpx.Headers, object]:
    response = httpx.post(
        stack.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": ASK},
        headers=headers,
        timeout=20,
    )
    return response.headers, response.json()


# --- streaming commit window --------------------------------------------------------------


def stream_text(stack: Stack) -> tuple[Mapping[str, str], str, list[object]]:
    client = stack.client()
    raw = client.chat.completions.with_raw_response.create(
        model="assistant", messages=ASK, stream=True
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return raw.headers, text, [c.choices[0].logprobs for c in chunks if c.choices]


def test_commit_window_keeps_a_confident_stream(routed: Stack) -> None:
    routed.student_script.default = Behavior(answer="one two three four five six", logprob=-0.1)
    headers, text, logprobs = stream_text(routed)
    assert headers["x-distillgate-route"] == "student"
    assert text == "one two three four five six"
    assert all(lp is None for lp in logprobs)  # requested by the gateway, not shown
    assert routed.teacher.requests == []


def test_commit_window_swaps_a_weak_stream_for_the_teacher(routed: Stack) -> None:
    routed.student_script.default = Behavior(
        answer="one two three four five six seven eight", logprob=-4.0, token_delay_s=0.05
    )
    headers, text, _ = stream_text(routed)
    assert (headers["x-distillgate-route"], headers["x-distillgate-reason"]) == (
        "teacher",
        "low_confidence",
    )
    assert text == "the teacher's answer"  # nothing of the student's reached the client
    assert routed.wait_for(lambda: routed.student.streams_cancelled == 1)


def test_commit_window_on_a_stream_shorter_than_the_window(routed: Stack) -> None:
    routed.student_script.default = Behavior(answer="ok", logprob=-0.1)
    _, text, _ = stream_text(routed)
    assert text == "ok"


def test_a_teacher_4xx_during_escalation_keeps_the_student_answer(routed: Stack) -> None:
    """The student's answer is served when the teacher fails, a 4xx included."""
    routed.student_script.default = Behavior(answer="uh leaves maybe", logprob=-2.5)
    routed.teacher_script.default = Behavior(status=429, retry_after="3")
    headers, body = chat(routed)
    assert (headers["x-distillgate-route"], headers["x-distillgate-reason"]) == (
        "student",
        "policy",
    )
    assert content(body) == "uh leaves maybe"
    assert routed.metric("distillgate_upstream_errors_total", model="assistant",
                         backend="teacher", error_type="http_4xx") == 1  # fmt: skip

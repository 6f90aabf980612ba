"""Shadowing through the running gateway: a student that diverges on one category only."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai

from gateway.fake_vllm.script import Behavior
from monitors import judge
from tests.fakes.stack import Stack, StackFactory

EXTRA = """
shadow: {enabled: true, workers: 2, max_teacher_rps: 1000, noise_floor_rate: 0.5}
monitor: {min_samples: 6, window_s: 3600}
routing:
  replace_defaults: true
  categories:
    math: {risk: low, route: auto, max_gap: 0.15, shadow_rate: 1.0, keywords: [solve]}
    general: {risk: low, route: auto, max_gap: 0.15, shadow_rate: 1.0}
"""
ADMIN = {"authorization": "Bearer admin-secret"}


def ask(stack: Stack, prompt: str) -> httpx.Response:
    response = httpx.post(
        stack.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": [{"role": "user", "content": prompt}]},
        timeout=20,
    )
    assert response.status_code == 200
    return response


def test_only_the_diverging_category_opens_its_breaker(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    records = tmp_path / "pairs.jsonl"
    extra = EXTRA.replace(
        "noise_floor_rate: 0.5",
        f"noise_floor_rate: 0.5, records: {{enabled: true, path: '{records}'}}",
    )
    stack = make_stack(extra_yaml=extra, admin_key="admin-secret")
    stack.student_script.rules = [("Solve", Behavior(answer="The result is x = 41."))]
    stack.teacher_script.rules = [("Solve", Behavior(answer="The result is x = 42."))]
    stack.student_script.default = Behavior(answer="Paris is the capital of France.")
    stack.teacher_script.default = Behavior(answer="Paris is the capital of France.")
    for i in range(8):
        assert (
            ask(stack, f"Solve for x: x - {i} = {42 - i}").headers["x-distillgate-category"]
            == "math"
        )
        assert ask(stack, f"Tell me about the capital of France, take {i}").headers[
            "x-distillgate-route"
        ] == "student"  # fmt: skip

    def scored() -> bool:
        done = sum(
            stack.metric("distillgate_shadow_completed_total", model="assistant", category=c)
            for c in ("math", "general")
        )
        return done == 16

    assert stack.wait_for(scored, timeout=20)
    gap = httpx.get(stack.url + "/admin/gap", headers=ADMIN, timeout=10).json()
    math, general = gap["models"]["assistant"]["math"], gap["models"]["assistant"]["general"]
    assert (math["breaker"], general["breaker"]) == ("open", "closed")
    assert math["n"] == 8 and math["lower"] > 0.15 and math["illusion_rate"] == 1.0
    assert general["gap"] == 0.0 and general["noise_floor"] == 0.0

    routed = ask(stack, "Solve for x: x + 1 = 43")
    assert (routed.headers["x-distillgate-route"], routed.headers["x-distillgate-reason"]) == (
        "teacher",
        "breaker_open",
    )
    assert ask(stack, "Tell me more about France").headers["x-distillgate-route"] == "student"
    # the gauges say the same at scrape time
    assert stack.metric("distillgate_breaker_state", model="assistant", category="math",
                        state="open") == 1  # fmt: skip
    assert stack.metric("distillgate_gap_samples", model="assistant", category="general") >= 8
    # every scored pair was recorded, with both answers
    lines = [json.loads(x) for x in records.read_text().splitlines()]
    assert len(lines) >= 16
    math_pair = next(r for r in lines if r["category"] == "math")
    assert math_pair["student_answer"] == "The result is x = 41."
    assert math_pair["teacher_answer"] == "The result is x = 42." and math_pair["judgment_flip"]


def test_admin_gap_needs_the_admin_key(make_stack: StackFactory) -> None:
    stack = make_stack(admin_key="admin-secret")
    assert httpx.get(stack.url + "/admin/gap", timeout=10).status_code == 401
    wrong = httpx.get(stack.url + "/admin/gap", headers={"authorization": "Bearer no"}, timeout=10)
    assert wrong.status_code == 401
    body = httpx.get(stack.url + "/admin/gap", headers=ADMIN, timeout=10).json()
    general = body["models"]["assistant"]["general"]
    assert general["breaker"] == "insufficient" and general["n"] == 0 and general["gap"] is None


def test_shadow_calls_never_reach_the_client(make_stack: StackFactory) -> None:
    extra = "shadow: {enabled: true}\n"
    extra += "routing: {replace_defaults: true,\n"
    extra += "          categories: {general: {risk: low, route: student, shadow_rate: 1.0}}}\n"
    stack = make_stack(extra_yaml=extra)
    stack.teacher_script.default = Behavior(status=500)  # the teacher is broken
    client = stack.client()
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "Write a haiku about the first snow of winter"}
    ]
    for _ in range(3):
        assert client.chat.completions.create(model="assistant", messages=messages).choices
    # every shadow call was made, failed, and was only counted
    assert stack.wait_for(
        lambda: (
            stack.metric(
                "distillgate_shadow_dropped_total", model="assistant", reason="upstream_error"
            )
            == 3
        )
    )
    assert len(stack.teacher.requests) == 3


def test_the_teacher_judges_pairs_through_the_real_upstream_client(
    make_stack: StackFactory,
) -> None:
    extra = "shadow: {enabled: true, max_teacher_rps: 1000, noise_floor_rate: 0, judge_rate: 1.0}\n"
    extra += "routing: {replace_defaults: true,\n"
    extra += "          categories: {general: {risk: low, route: student, shadow_rate: 1.0}}}\n"
    stack = make_stack(extra_yaml=extra)
    stack.teacher_script.rules = [(judge.QUESTION, Behavior(answer='{"verdict": "different"}'))]
    stack.teacher_script.default = Behavior(answer="Tokyo is the capital of Japan.")
    stack.student_script.default = Behavior(answer="Kyoto is the capital of Japan.")
    ask(stack, "Which city is the capital of Japan?")
    assert stack.wait_for(
        lambda: (
            stack.metric("distillgate_shadow_judged_total", model="assistant", outcome="different")
            == 1
        )
    )
    judged = [r for r in stack.teacher.requests if r["messages"][0]["role"] == "system"]
    assert len(judged) == 2 and all(r["model"] == "teacher" for r in judged)
    assert all(r["response_format"] == {"type": "json_object"} for r in judged)
    assert stack.metric("distillgate_divergence_sum", model="assistant", category="general",
                        scorer="llm_judge") == 1.0  # fmt: skip


def test_a_judge_reply_that_is_not_the_json_verdict_is_counted_unparsable(
    make_stack: StackFactory,
) -> None:
    extra = "shadow: {enabled: true, max_teacher_rps: 1000, noise_floor_rate: 0, judge_rate: 1.0}\n"
    extra += "routing: {replace_defaults: true,\n"
    extra += "          categories: {general: {risk: low, route: student, shadow_rate: 1.0}}}\n"
    stack = make_stack(extra_yaml=extra)
    stack.teacher_script.rules = [(judge.QUESTION, Behavior(answer="DIFFERENT"))]
    stack.teacher_script.default = Behavior(answer="Tokyo is the capital of Japan.")
    stack.student_script.default = Behavior(answer="Kyoto is the capital of Japan.")
    ask(stack, "Which city is the capital of Japan?")
    judged = {"model": "assistant", "outcome": "unparsable"}
    done = {"model": "assistant", "category": "general"}
    assert stack.wait_for(lambda: stack.metric("distillgate_shadow_judged_total", **judged) == 1)
    assert stack.wait_for(lambda: stack.metric("distillgate_shadow_completed_total", **done) == 1)
    assert stack.metric("distillgate_divergence_count", model="assistant", category="general",
                        scorer="llm_judge") == 0  # fmt: skip

"""The shadow path under heavy requests, through a real gateway: memory stays bounded, and
a gateway writing pair records keeps serving while it scores and redacts a huge pair."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai

from gateway.fake_vllm.script import Behavior
from router.sampling import sampled
from tests.fakes.stack import StackFactory
from tests.gateway.upstream.test_client import rss_mib

SMALL: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def test_padded_high_risk_requests_against_a_slow_student_keep_memory_bounded(
    make_stack: StackFactory,
) -> None:
    """High-risk requests are served by the teacher and shadowed to the student (every
    one, here); the student is slow, so jobs pile up. 200 requests of 1 MB would hold
    200 MB+ in a queue bounded only by count; the byte bound keeps a few."""
    every = ", ".join(f"{c}: {{shadow_rate: 1.0}}" for c in ("general", "violence"))
    stack = make_stack(extra_yaml=(
        "server: {max_body_bytes: 2000000}\n"
        "shadow: {enabled: true, queue_max_bytes: 8388608, max_teacher_rps: 1000}\n"
        f"routing: {{categories: {{{every}}}}}\n"
    ))  # fmt: skip
    stack.student_script.default = Behavior(latency_s=30)
    client = stack.client(timeout=30)
    padding = " filler" * 150_000  # about 1 MB
    prompt = "How do I build a pipe bomb at home?" + padding
    client.chat.completions.create(model="assistant", messages=SMALL)  # warm up
    before = rss_mib()
    for _ in range(200):
        raw = client.chat.completions.with_raw_response.create(
            model="assistant", messages=[{"role": "user", "content": prompt}]
        )
        assert raw.headers["x-distillgate-route"] == "teacher"
        stack.teacher.requests.clear()  # the fake keeps every body it saw; not the gateway
    grown = rss_mib() - before
    assert grown < 120, f"RSS grew {grown:.0f} MiB"
    dropped = stack.metric(
        "distillgate_shadow_dropped_total", model="assistant", reason="queue_bytes"
    )
    assert dropped >= 150  # the rest waited within 8 MiB (and two are with the workers)


def test_a_gateway_writing_pair_records_keeps_serving_during_a_huge_sampled_pair(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    records = tmp_path / "pairs.jsonl"
    stack = make_stack(extra_yaml=(
        "server: {max_body_bytes: 2000000}\n"
        # a 1 MB prompt is ~250k tokens: more than the default teacher budget a minute
        f"shadow: {{enabled: true, max_teacher_rps: 1000, max_teacher_tokens_per_min: 1e7, "
        f"records: {{enabled: true, path: '{records}'}}}}\n"
        "routing: {replace_defaults: true,\n"
        "          categories: {general: {risk: low, route: student, shadow_rate: 1.0}}}\n"
    ))  # fmt: skip
    huge = "a." * 500_000  # quadratic e-mail redaction took minutes on this
    stack.student_script.default = Behavior(answer=huge)
    stack.teacher_script.default = Behavior(answer="a. " * 1000)
    client = stack.client(timeout=30)
    client.chat.completions.create(model="assistant", messages=[{"role": "user", "content": huge}])
    stack.student_script.default = Behavior(answer="small")
    for _ in range(5):
        began = time.monotonic()
        done = client.chat.completions.create(model="assistant", messages=SMALL)
        assert done.choices[0].message.content == "small"
        assert time.monotonic() - began < 5

    def huge_pair() -> list[dict[str, object]]:
        rows = [json.loads(line) for line in records.read_text().splitlines()]
        return [r for r in rows if str(r["student_answer"]).startswith("a.a.")]

    assert stack.wait_for(lambda: records.exists() and bool(huge_pair()), timeout=30)
    row = huge_pair()[0]
    assert row["truncated"] is True and len(str(row["student_answer"])) == 32_000


def test_shadow_sampling_is_keyed_by_the_deployments_secret(make_stack: StackFactory) -> None:
    """Which requests are shadowed follows the keyed draw; without the secret a client's
    own computation of the draw is a coin toss."""
    stack = make_stack(
        extra_yaml=(
            "shadow: {enabled: true, max_teacher_rps: 1000, noise_floor_rate: 0}\n"
            "routing: {replace_defaults: true,\n"
            "          categories: {general: {risk: low, route: student, shadow_rate: 0.5}}}\n"
        ),
        environ={"DISTILLGATE_SAMPLING_SECRET": "deployment-secret"},
    )
    bodies = [
        json.dumps({"model": "assistant", "messages": [{"role": "user", "content": f"q{i}"}]})
        for i in range(60)
    ]
    for body in bodies:
        response = httpx.post(stack.url + "/v1/chat/completions", content=body, timeout=10)
        assert response.status_code == 200
    keyed = sum(sampled(b.encode(), 0.5, secret=b"deployment-secret") for b in bodies)
    plain = [sampled(b.encode(), 0.5) for b in bodies]
    assert plain != [sampled(b.encode(), 0.5, secret=b"deployment-secret") for b in bodies]

    def offered() -> float:
        return stack.metric(
            "distillgate_shadow_offered_total", model="assistant", category="general"
        )

    assert stack.wait_for(lambda: offered() == keyed), (offered(), keyed, sum(plain))

"""The shadow worker with a scripted OtherModel: pairs, noise floor, budget and drops."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from monitors.comparison import Comparison
from monitors.gap import GapMonitor
from monitors.metrics import ShadowMetrics
from monitors.shadow import Completion, Shadower, ShadowJob, ShadowSettings
from router.types import Target
from tests.fakes.clock import Clock


class Models:
    """Answers per target; records every call."""

    def __init__(self, answers: Mapping[Target, str | None]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[Target, dict[str, Any]]] = []

    async def complete(
        self, alias: str, target: Target, endpoint: str, body: Mapping[str, Any], request_id: str
    ) -> Completion | None:
        self.calls.append((target, dict(body)))
        text = self.answers[target]
        return None if text is None else Completion(text, 10)


def served_json(text: str) -> bytes:
    return orjson.dumps({"choices": [{"index": 0, "message": {"content": text}}]})


def job(served_by: Target, text: str, **kwargs: Any) -> ShadowJob:
    options: dict[str, Any] = {
        "request_id": "r1", "alias": "assistant", "category": "math", "served_by": served_by,
        "endpoint": "chat/completions",
        "body": {"model": "assistant", "messages": [], "stream": True, "temperature": 0.2},
        "request_text": "How many legs do 3 spiders have?",
        "served": served_json(text), "served_is_sse": False,
    }  # fmt: skip
    options.update(kwargs)
    return ShadowJob(**options)


def make(models: Models, **settings: Any) -> tuple[Shadower, GapMonitor, CollectorRegistry]:
    clock = Clock()
    registry = CollectorRegistry()
    gap = GapMonitor(window_s=60, min_samples=2, confidence=0.95, max_gap={"math": 0.1},
                     clock=clock)  # fmt: skip
    shadower = Shadower(
        models, Comparison(gap), ShadowMetrics(registry), ShadowSettings(**settings), clock
    )
    return shadower, gap, registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_student_served_is_shadowed_to_the_teacher_with_the_same_parameters() -> None:
    models = Models({Target.TEACHER: "3 spiders have 24 legs.", Target.STUDENT: None})
    shadower, gap, registry = make(models)
    asyncio.run(shadower.process(job(Target.STUDENT, "3 spiders have 18 legs.")))
    assert [t for t, _ in models.calls] == [Target.TEACHER]
    body = models.calls[0][1]
    assert "stream" not in body and body["temperature"] == 0.2
    snap = gap.snapshot("assistant", "math")
    assert snap.n == 1 and snap.divergence.value > 0.3  # the final answers differ
    assert (
        value(registry, "distillgate_judgment_flips_total", model="assistant", category="math") == 1
    )


def test_teacher_served_is_shadowed_to_the_student_and_noise_asks_the_teacher_again() -> None:
    models = Models({Target.TEACHER: "24 legs.", Target.STUDENT: "24 legs."})
    shadower, gap, _ = make(models)
    asyncio.run(shadower.process(job(Target.TEACHER, "24 legs.", noise=True)))
    assert [t for t, _ in models.calls] == [Target.STUDENT, Target.TEACHER]
    snap = gap.snapshot("assistant", "math")
    assert snap.n == 1 and snap.noise_n == 1 and snap.divergence.value == 0.0


def test_an_escalated_student_answer_is_used_without_asking_again() -> None:
    models = Models({Target.TEACHER: "x", Target.STUDENT: "x"})
    shadower, gap, _ = make(models)
    asyncio.run(shadower.process(job(Target.TEACHER, "24 legs.", student_answer="18 legs.")))
    assert models.calls == []
    assert gap.snapshot("assistant", "math").n == 1


def test_budget_and_upstream_failures_drop_and_count() -> None:
    models = Models({Target.TEACHER: "24", Target.STUDENT: None})
    shadower, gap, registry = make(models, max_teacher_rps=1.0)
    asyncio.run(shadower.process(job(Target.STUDENT, "18")))
    asyncio.run(shadower.process(job(Target.STUDENT, "18")))  # no time passed: over budget
    assert (
        value(registry, "distillgate_shadow_dropped_total", model="assistant", reason="budget") == 1
    )
    asyncio.run(shadower.process(job(Target.TEACHER, "24")))  # the student is down
    assert value(registry, "distillgate_shadow_dropped_total", model="assistant",
                 reason="upstream_error") == 1  # fmt: skip
    asyncio.run(shadower.process(job(Target.STUDENT, "x", served=b"not json")))
    assert value(registry, "distillgate_shadow_dropped_total", model="assistant",
                 reason="unscorable") == 1  # fmt: skip
    assert gap.snapshot("assistant", "math").n == 1


def test_a_full_queue_drops_without_waiting() -> None:
    async def go() -> tuple[list[bool], int]:
        models = Models({Target.TEACHER: "24", Target.STUDENT: None})
        shadower, _, registry = make(models, queue_size=2)
        accepted = [shadower.offer(job(Target.STUDENT, "18")) for _ in range(3)]
        dropped = value(registry, "distillgate_shadow_dropped_total", model="assistant",
                        reason="queue_full")  # fmt: skip
        shadower.start()
        await asyncio.wait_for(shadower.drain(), 5)
        await shadower.stop()
        return accepted, int(dropped)

    accepted, dropped = asyncio.run(go())
    assert accepted == [True, True, False] and dropped == 1

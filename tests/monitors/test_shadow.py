"""The shadow worker with a scripted OtherModel: pairs, noise floor, budget and drops."""

from __future__ import annotations

import asyncio

import pytest

from router.types import Target
from tests.fakes.shadow import Models, job, make, value


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


def test_pairs_are_weighted_by_their_sampling_probability_and_the_funnel_counts() -> None:
    models = Models({Target.TEACHER: "3 spiders have 24 legs.", Target.STUDENT: None})
    shadower, gap, registry = make(models, max_teacher_rps=1000)
    for probability in (1.0, 0.25):
        asyncio.run(shadower.process(job(Target.STUDENT, "18 legs.", probability=probability)))
    snap = gap.snapshot("assistant", "math")
    assert snap.n == 2 and snap.n_effective == pytest.approx(25 / 17)  # weights 1 and 4
    asyncio.run(shadower.process(job(Target.STUDENT, "x", served=b"not an answer")))
    models.answers[Target.TEACHER] = None
    asyncio.run(shadower.process(job(Target.STUDENT, "18 legs.")))

    def stage(name: str) -> float:
        return value(registry, "distillgate_shadow_funnel_total", model="assistant",
                     category="math", stage=name)  # fmt: skip

    assert (stage("scored"), stage("unscorable"), stage("failed")) == (2, 1, 1)

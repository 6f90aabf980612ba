"""The teacher as a judge: reading replies, both orders, and the shadow worker asking it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from monitors import judge
from monitors.judge import Outcome
from monitors.shadow import Completion
from router.types import Target
from tests.fakes.shadow import job, make, value

SAME, DIFFERENT = '{"verdict": "same"}', '{"verdict": "different"}'


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ('{"verdict": "same"}', True),
        ('  {"verdict": "DIFFERENT"}\n', False),
        ("SAME", None),  # a word, not the JSON verdict: never a default
        ('```json\n{"verdict": "same"}\n```', None),
        ('{"verdict": "same", "why": "both 24"}', None),
        ('{"verdict": "maybe"}', None),
        ('{"verdict": true}', None),
        ('["same"]', None),
        ("I cannot tell.", None),
    ],
)
def test_verdict(reply: str, want: bool | None) -> None:
    assert judge.verdict(reply) is want


@pytest.mark.parametrize(
    ("one", "other", "want"),
    [
        (SAME, SAME, Outcome.SAME),
        (DIFFERENT, '{"verdict": "different"}', Outcome.DIFFERENT),
        (SAME, DIFFERENT, Outcome.INCONSISTENT),  # position bias: not counted
        (SAME, "no idea", Outcome.UNPARSABLE),
        (SAME, "SAME", Outcome.UNPARSABLE),  # the old one-word reply is not read either
        (None, SAME, Outcome.UNANSWERED),
    ],
)
def test_combine(one: str | None, other: str | None, want: Outcome) -> None:
    assert judge.combine(one, other) is want
    assert judge.agreement(want) == {Outcome.SAME: 1.0, Outcome.DIFFERENT: 0.0}.get(want)


def test_messages_put_the_answers_in_the_given_order_and_bound_their_size() -> None:
    long = "x" * (judge.MAX_CHARS + 100)
    user = judge.messages("Q?", "first answer", long)[1]["content"]
    assert user.index("Answer A:\nfirst answer") < user.index("Answer B:\nxxx")
    assert user.endswith(judge.QUESTION) and "[...]" in user
    assert len(user) < 2 * judge.MAX_CHARS + 200


class JudgingTeacher:
    """Answers the request, and as a judge says SAME only when the student's answer is first
    (`position_biased`) or always `verdict`."""

    def __init__(self, answer: str, verdict: str, position_biased: bool = False) -> None:
        self.answer, self.verdict, self.position_biased = answer, verdict, position_biased
        self.judge_calls: list[Mapping[str, Any]] = []

    async def complete(
        self, alias: str, target: Target, endpoint: str, body: Mapping[str, Any], request_id: str
    ) -> Completion | None:
        assert target is Target.TEACHER
        messages = body.get("messages", [])
        if not messages or messages[0]["role"] != "system":
            return Completion(self.answer, 5)
        assert endpoint == "chat/completions" and body["temperature"] == 0
        assert body["response_format"] == {"type": "json_object"}
        self.judge_calls.append(body)
        if self.position_biased:
            first = messages[1]["content"].split("Answer A:\n")[1]
            return Completion(SAME if first.startswith("18") else DIFFERENT, 1)
        return Completion(self.verdict, 1)


def run_one(teacher: JudgingTeacher, rate: float) -> tuple[Any, Any]:
    shadower, gap, registry = make(teacher, judge_rate=rate)  # type: ignore[arg-type]
    asyncio.run(shadower.process(job(Target.STUDENT, "18 legs, since spiders have 6.")))
    return gap.snapshot("assistant", "math"), registry


def test_a_consistent_judge_verdict_enters_the_pair_as_llm_judge() -> None:
    teacher = JudgingTeacher("24 legs: 3 times 8.", DIFFERENT)
    snap, registry = run_one(teacher, 1.0)
    assert len(teacher.judge_calls) == 2
    orders = [c["messages"][1]["content"].split("Answer A:\n")[1][:2] for c in teacher.judge_calls]
    assert sorted(orders) == ["18", "24"]  # asked once in each order
    assert value(registry, "distillgate_shadow_judged_total", model="assistant",
                 outcome="different") == 1  # fmt: skip
    assert value(registry, "distillgate_divergence_count", model="assistant", category="math",
                 scorer="llm_judge") == 1  # fmt: skip
    assert snap.n == 1


def test_an_order_dependent_verdict_is_not_counted() -> None:
    snap, registry = run_one(JudgingTeacher("24 legs.", "", position_biased=True), 1.0)
    assert value(registry, "distillgate_shadow_judged_total", model="assistant",
                 outcome="inconsistent") == 1  # fmt: skip
    assert value(registry, "distillgate_divergence_count", model="assistant", category="math",
                 scorer="llm_judge") == 0  # fmt: skip
    assert snap.n == 1  # the pair itself still counts, scored without the judge


def test_judge_rate_zero_never_asks() -> None:
    teacher = JudgingTeacher("24 legs.", SAME)
    run_one(teacher, 0.0)
    assert teacher.judge_calls == []


def test_the_judge_spends_the_teacher_budget() -> None:
    teacher = JudgingTeacher("24 legs.", SAME)
    shadower, _, registry = make(teacher, judge_rate=1.0, max_teacher_rps=2.0)  # type: ignore[arg-type]
    asyncio.run(shadower.process(job(Target.STUDENT, "18 legs.")))  # shadow + 1 judge call
    assert value(registry, "distillgate_shadow_judged_total", model="assistant",
                 outcome="unanswered") == 1  # fmt: skip
    assert value(registry, "distillgate_teacher_budget_spent_total", kind="requests") == 2


def test_a_malformed_verdict_is_an_error_never_a_default() -> None:
    snap, registry = run_one(JudgingTeacher("24 legs.", "DIFFERENT, clearly"), 1.0)
    assert value(registry, "distillgate_shadow_judged_total", model="assistant",
                 outcome="unparsable") == 1  # fmt: skip
    assert value(registry, "distillgate_divergence_count", model="assistant", category="math",
                 scorer="llm_judge") == 0  # fmt: skip
    assert snap.n == 1

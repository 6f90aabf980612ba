"""The teacher budget's token bucket, on a clock the test moves."""

from __future__ import annotations

import asyncio

import pytest

from monitors.budget import Limits, LocalBudget, TokenBucket
from monitors.shadow import reservation
from router.types import Target
from tests.fakes.clock import Clock
from tests.fakes.shadow import Models, job, make, value


def test_take_spends_only_what_is_there_and_refills_with_time() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, capacity=4.0, clock=clock)
    assert all(bucket.take() for _ in range(4))
    assert not bucket.take()  # empty: nothing spent
    clock.now += 1.0
    assert bucket.take() and bucket.take() and not bucket.take()
    clock.now += 100.0
    assert sum(bucket.take() for _ in range(10)) == 4  # never above capacity


def test_charge_after_the_fact_can_go_into_debt() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10.0, capacity=100.0, clock=clock)
    bucket.charge(250.0)  # a call cost more than the bucket held
    assert not bucket.available()
    clock.now += 15.0  # 150 back: still 0 left
    assert not bucket.available()
    clock.now += 0.5
    assert bucket.available()


def test_a_reservation_takes_the_worst_case_and_settling_gives_back_the_rest() -> None:
    clock = Clock()
    budget = LocalBudget(Limits(requests_per_s=100, tokens_per_min=200_000), clock)
    assert [asyncio.run(budget.reserve(32_000)) for _ in range(7)] == [True] * 6 + [False]
    asyncio.run(budget.settle(32_000, 10))  # the answer was short: 31,990 come back
    assert asyncio.run(budget.reserve(32_000))
    slow = LocalBudget(Limits(requests_per_s=1, tokens_per_min=200_000), clock)
    assert asyncio.run(slow.reserve(10)) and not asyncio.run(slow.reserve(10))  # 1 request/s
    clock.now += 1
    assert asyncio.run(slow.reserve(199_980))  # the refused call's tokens were given back


def test_one_huge_shadow_request_cannot_overspend_the_token_budget() -> None:
    models = Models({Target.TEACHER: "24", Target.STUDENT: None})
    models.tokens = 32_000  # each answer uses all it may
    shadower, _, registry = make(models, max_teacher_rps=1000, max_teacher_tokens_per_min=200_000)
    body = {"model": "assistant", "messages": [], "n": 128, "max_tokens": 32_000}
    for _ in range(10):
        asyncio.run(shadower.process(job(Target.STUDENT, "18", body=body)))
    # 6 x 32,000 fit in 200,000 tokens a minute; charging after the call let a 7th through
    assert len(models.calls) == 6
    assert all(call["n"] == 1 for _, call in models.calls)
    assert value(registry, "distillgate_shadow_dropped_total", model="assistant",
                 reason="budget") == 4  # fmt: skip
    assert reservation({**body, "n": 1}, 1024) == pytest.approx(32_000 + 2 / 4)  # as sent
    assert reservation(body, 1024) == pytest.approx(128 * 32_000 + 2 / 4)
    assert reservation({"prompt": "x" * 400}, 1024) == pytest.approx(1024 + 402 / 4)

"""The teacher budget's token bucket, on a clock the test moves."""

from __future__ import annotations

from monitors.budget import TokenBucket
from tests.fakes.clock import Clock


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

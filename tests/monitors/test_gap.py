"""Gap windows and breakers, with an injected clock."""

from __future__ import annotations

import pytest

from monitors.gap import GapMonitor
from monitors.scorers import PairScores
from router.types import BreakerState
from tests.fakes.clock import Clock


def pair(divergence: float, surface: float = 0.9, judgment: float | None = 1.0) -> PairScores:
    return PairScores({}, divergence, surface, judgment)


def record(
    m: GapMonitor, alias: str, category: str, scores: PairScores, told_apart: bool | None
) -> bool:
    """Add a pair and tick its window, as the state store does; True for an illusion."""
    sample = m.sample(scores, told_apart)
    m.add(alias, category, sample)
    m.tick([(alias, category)])
    return sample.illusion


def monitor(clock: Clock, **kwargs: object) -> GapMonitor:
    options: dict[str, object] = {
        "window_s": 60.0,
        "min_samples": 5,
        "confidence": 0.95,
        "max_gap": {"math": 0.2, "general": 0.2},
        "clock": clock,
    }
    options.update(kwargs)
    return GapMonitor(**options)  # type: ignore[arg-type]


def test_insufficient_until_min_samples_then_open() -> None:
    clock = Clock()
    m = monitor(clock)
    for i in range(4):
        record(m, "a", "math", pair(0.5 + 0.01 * i), True)
    assert m.breaker_states("a") == {"math": "insufficient"}
    assert m.snapshot("a", "math").as_json()["gap"] is None  # no number without evidence
    record(m, "a", "math", pair(0.52), True)
    snap = m.snapshot("a", "math")
    assert snap.breaker is BreakerState.OPEN and snap.gap.lower > 0.2
    assert m.breaker_states("a")["math"] == "open"


def test_noise_floor_is_subtracted() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        record(m, "a", "math", pair(0.35), True)
        m.add_noise("a", "math", clock.now, 0.25)
        m.tick()
    snap = m.snapshot("a", "math")
    assert snap.gap.value == pytest.approx(0.10)
    assert snap.noise_floor.value == pytest.approx(0.25)
    assert snap.breaker is BreakerState.CLOSED  # 0.35 alone would be over 0.2


def test_breaker_closes_when_the_window_moves_on() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        record(m, "a", "math", pair(0.6), True)
    assert m.breaker_states("a")["math"] == "open"
    clock.now += 61  # the bad pairs leave the window
    for _ in range(6):
        record(m, "a", "math", pair(0.02), True)
    assert m.breaker_states("a")["math"] == "closed"


def test_hysteresis_between_the_bounds_keeps_the_state() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        record(m, "a", "math", pair(0.6), True)
    assert m.breaker_states("a")["math"] == "open"
    clock.now += 30
    for d in (0.0, 0.4) * 4:  # an interval that straddles 0.2
        record(m, "a", "math", pair(d), True)
    clock.now += 31  # the first six leave the window; the straddling eight stay
    m.tick()
    snap = m.snapshot("a", "math")
    assert snap.n == 8
    assert snap.gap.lower < 0.2 < snap.gap.upper
    assert snap.breaker is BreakerState.OPEN


def test_time_alone_expires_samples() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        record(m, "a", "general", pair(0.0), True)
    assert m.breaker_states("a")["general"] == "closed"
    clock.now += 120
    m.tick()
    assert m.breaker_states("a")["general"] == "insufficient"
    assert m.snapshot("a", "general").n == 0


def test_categories_and_aliases_are_separate() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        record(m, "a", "math", pair(0.6), True)
        record(m, "a", "general", pair(0.0), True)
        record(m, "b", "math", pair(0.0), True)
    assert m.breaker_states("a") == {"math": "open", "general": "closed"}
    assert m.breaker_states("b") == {"math": "closed"}


def test_illusion_rate_and_advantage() -> None:
    clock = Clock()
    m = monitor(clock)
    illusions = [
        record(m, "a", "math", pair(0.4, surface=0.9, judgment=0.0), True),  # illusion
        record(m, "a", "math", pair(0.4, surface=0.2, judgment=0.0), True),  # not alike
        record(m, "a", "math", pair(0.1, surface=0.9, judgment=1.0), False),  # agrees
        record(m, "a", "math", pair(0.1, surface=0.9, judgment=None), False),  # n/a
    ]
    assert illusions == [True, False, False, False]
    snap = m.snapshot("a", "math")
    assert snap.illusion.value == pytest.approx(0.25)
    assert snap.advantage.value == pytest.approx(0.0)  # right on 2 of 4: 2 * 0.5 - 1
    body = snap.as_json()
    assert {"n", "gap", "lower", "upper", "noise_floor", "illusion_rate", "advantage",
            "breaker"} <= set(body)  # fmt: skip


def test_thresholds_can_change() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        record(m, "a", "math", pair(0.3), True)
    assert m.breaker_states("a")["math"] == "open"
    m.set_thresholds({"math": 0.5})
    m.tick()
    assert m.breaker_states("a")["math"] == "closed"


def test_reading_never_moves_a_breaker() -> None:
    """A scrape or an /admin/gap read changes nothing; only tick moves breakers."""
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        m.add("a", "math", m.sample(pair(0.6), True))
    assert m.snapshot("a", "math").breaker is BreakerState.INSUFFICIENT
    assert m.snapshot("a", "math").n == 6  # the statistics are current all the same
    assert m.breaker_states("a") == {}
    assert m.tick() == {("a", "math"): BreakerState.OPEN}
    assert m.breaker_states("a") == {"math": BreakerState.OPEN}
    clock.now += 120  # every pair expires, but only a tick says so to the router
    assert m.snapshot("a", "math").n == 0
    assert m.snapshot("a", "math").breaker is BreakerState.OPEN
    m.tick()
    assert m.breaker_states("a") == {"math": BreakerState.INSUFFICIENT}


def test_tick_of_one_window_leaves_the_others() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        m.add("a", "math", m.sample(pair(0.6), True))
        m.add("a", "general", m.sample(pair(0.6), True))
    assert m.tick([("a", "math")]) == {("a", "math"): BreakerState.OPEN}
    assert m.breaker_states("a") == {"math": BreakerState.OPEN}


def test_the_gap_estimates_the_traffic_when_sampling_rates_change() -> None:
    """50 pairs sampled at rate 1.0 (diverging 0.1), then a reload lowers the rate to 0.1
    and 50 pairs (diverging 0.5) stand for 500 requests: the traffic's mean divergence is
    (50 x 0.1 + 500 x 0.5) / 550, not the sample's 0.3."""
    clock = Clock()
    m = monitor(clock, min_samples=5)
    for _ in range(50):
        m.add("a", "math", m.sample(pair(0.1), None, weight=1.0))
    for _ in range(50):
        m.add("a", "math", m.sample(pair(0.5), None, weight=10.0))
    snap = m.snapshot("a", "math")
    assert snap.n == 100
    assert snap.divergence.value == pytest.approx((50 * 0.1 + 500 * 0.5) / 550)
    assert snap.n_effective == pytest.approx(550**2 / (50 + 50 * 100))
    assert snap.as_json()["n_effective"] == pytest.approx(59.9, abs=0.05)

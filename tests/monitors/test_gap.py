"""Gap windows and breakers, with an injected clock."""

from __future__ import annotations

import pytest

from monitors.gap import Breaker, GapMonitor
from monitors.scorers import PairScores


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pair(divergence: float, surface: float = 0.9, judgment: float | None = 1.0) -> PairScores:
    return PairScores({}, divergence, surface, judgment)


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
        m.record_pair("a", "math", pair(0.5 + 0.01 * i), True)
    assert m.breaker_states("a") == {"math": "insufficient"}
    assert m.snapshot("a", "math").as_json()["gap"] is None  # no number without evidence
    m.record_pair("a", "math", pair(0.52), True)
    snap = m.snapshot("a", "math")
    assert snap.breaker is Breaker.OPEN and snap.gap.lower > 0.2
    assert m.breaker_states("a")["math"] == "open"


def test_noise_floor_is_subtracted() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        m.record_pair("a", "math", pair(0.35), True)
        m.record_noise("a", "math", 0.25)
    snap = m.snapshot("a", "math")
    assert snap.gap.value == pytest.approx(0.10)
    assert snap.noise_floor.value == pytest.approx(0.25)
    assert snap.breaker is Breaker.CLOSED  # 0.35 alone would be over 0.2


def test_breaker_closes_when_the_window_moves_on() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        m.record_pair("a", "math", pair(0.6), True)
    assert m.breaker_states("a")["math"] == "open"
    clock.now += 61  # the bad pairs leave the window
    for _ in range(6):
        m.record_pair("a", "math", pair(0.02), True)
    assert m.breaker_states("a")["math"] == "closed"


def test_hysteresis_between_the_bounds_keeps_the_state() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        m.record_pair("a", "math", pair(0.6), True)
    assert m.breaker_states("a")["math"] == "open"
    clock.now += 30
    for d in (0.0, 0.4) * 4:  # an interval that straddles 0.2
        m.record_pair("a", "math", pair(d), True)
    clock.now += 31  # the first six leave the window; the straddling eight stay
    m.refresh_all()
    snap = m.snapshot("a", "math")
    assert snap.n == 8
    assert snap.gap.lower < 0.2 < snap.gap.upper
    assert snap.breaker is Breaker.OPEN


def test_time_alone_expires_samples() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        m.record_pair("a", "general", pair(0.0), True)
    assert m.breaker_states("a")["general"] == "closed"
    clock.now += 120
    m.refresh_all()
    assert m.breaker_states("a")["general"] == "insufficient"
    assert m.snapshot("a", "general").n == 0


def test_categories_and_aliases_are_separate() -> None:
    clock = Clock()
    m = monitor(clock)
    for _ in range(6):
        m.record_pair("a", "math", pair(0.6), True)
        m.record_pair("a", "general", pair(0.0), True)
        m.record_pair("b", "math", pair(0.0), True)
    assert m.breaker_states("a") == {"math": "open", "general": "closed"}
    assert m.breaker_states("b") == {"math": "closed"}


def test_illusion_rate_and_advantage() -> None:
    clock = Clock()
    m = monitor(clock)
    illusions = [
        m.record_pair("a", "math", pair(0.4, surface=0.9, judgment=0.0), True),  # illusion
        m.record_pair("a", "math", pair(0.4, surface=0.2, judgment=0.0), True),  # not alike
        m.record_pair("a", "math", pair(0.1, surface=0.9, judgment=1.0), False),  # agrees
        m.record_pair("a", "math", pair(0.1, surface=0.9, judgment=None), False),  # n/a
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
        m.record_pair("a", "math", pair(0.3), True)
    assert m.breaker_states("a")["math"] == "open"
    m.set_thresholds({"math": 0.5})
    m.refresh_all()
    assert m.breaker_states("a")["math"] == "closed"

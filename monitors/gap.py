"""Per-category sliding windows of scored pairs: the gap above the noise floor, and breakers.

Time comes from an injected clock, so tests move time instead of sleeping. Windows are
bounded in time (`window_s`) and in count (`max_samples` per window).

Reading never changes anything: `snapshot` computes the statistics of the pairs inside
the window now and reports the breaker as it stands. Breakers move only in `tick`, which
one owner drives (the state store: after it records a pair, and on its refresh timer), so
a `/metrics` scrape or an `/admin/gap` read cannot change routing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from monitors.scorers import PairScores
from monitors.stats import (
    Estimate,
    effective_n,
    mean_interval,
    weighted_difference_interval,
    weighted_mean_interval,
    weighted_wilson,
    wilson,
)
from router.types import BreakerState

Window = tuple[str, str]  # (model alias, category)


@dataclass(frozen=True, slots=True)
class PairSample:
    """What a window keeps of one scored pair."""

    at: float
    divergence: float
    surface: float
    illusion: bool
    flip: bool
    discriminated: bool | None
    weight: float = 1.0  # 1 / the probability this pair was sampled with


@dataclass(frozen=True)
class GapSnapshot:
    """Everything known about one category's gap right now."""

    n: int
    n_effective: float  # what the pairs are worth once weighted (Kish); n when equal
    divergence: Estimate
    noise_floor: Estimate
    noise_n: int
    gap: Estimate
    surface: Estimate
    illusion: Estimate
    advantage: Estimate
    max_gap: float
    breaker: BreakerState

    def as_json(self) -> dict[str, object]:
        known = self.breaker is not BreakerState.INSUFFICIENT
        return {
            "n": self.n,
            "n_effective": round(self.n_effective, 1),
            "gap": round(self.gap.value, 4) if known else None,
            "lower": finite(self.gap.lower) if known else None,
            "upper": finite(self.gap.upper) if known else None,
            "divergence": round(self.divergence.value, 4) if self.n else None,
            "noise_floor": round(self.noise_floor.value, 4) if self.noise_n else None,
            "noise_n": self.noise_n,
            "surface_similarity": round(self.surface.value, 4) if self.n else None,
            "illusion_rate": round(self.illusion.value, 4) if self.n else None,
            "advantage": round(self.advantage.value, 4) if self.advantage.n else None,
            "max_gap": self.max_gap,
            "breaker": self.breaker.value,
        }


def finite(value: float) -> float | None:
    """Rounded for JSON, or None for an infinite bound (too few samples)."""
    return round(value, 4) if abs(value) != float("inf") else None


class _Window:
    def __init__(self, max_samples: int) -> None:
        self.pairs: deque[PairSample] = deque(maxlen=max_samples)
        self.noise: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self.breaker = BreakerState.INSUFFICIENT

    def expire(self, before: float) -> None:
        while self.pairs and self.pairs[0].at < before:
            self.pairs.popleft()
        while self.noise and self.noise[0][0] < before:
            self.noise.popleft()


class GapMonitor:
    """Windows per (model alias, category); breakers with hysteresis between their bounds."""

    def __init__(
        self,
        *,
        window_s: float,
        min_samples: int,
        confidence: float,
        max_gap: Mapping[str, float],
        clock: Callable[[], float],
        illusion_surface: float = 0.5,
        max_samples: int = 10_000,
    ) -> None:
        self._window_s = window_s
        self._min = min_samples
        self._confidence = confidence
        self._max_gap = dict(max_gap)
        self._clock = clock
        self._illusion_surface = illusion_surface
        self._max_samples = max_samples
        self._windows: dict[Window, _Window] = {}
        self._states: dict[str, dict[str, BreakerState]] = {}

    def set_thresholds(self, max_gap: Mapping[str, float]) -> None:
        self._max_gap = dict(max_gap)

    def sample(
        self, scores: PairScores, discriminated: bool | None, weight: float = 1.0
    ) -> PairSample:
        """The window's record of a pair, stamped now (not yet added anywhere). `weight`
        is 1 / the pair's sampling probability: the gap estimates the traffic, not the
        sample, when categories are sampled at different rates over time."""
        illusion = scores.surface >= self._illusion_surface and scores.judgment_disagrees()
        return PairSample(
            self._clock(),
            scores.divergence,
            scores.surface,
            illusion,
            scores.judgment_disagrees(),
            discriminated,
            weight,
        )

    def add(self, alias: str, category: str, sample: PairSample) -> None:
        """Add a scored pair; its breaker moves at the next `tick`."""
        self._window(alias, category).pairs.append(sample)

    def mirror(
        self,
        alias: str,
        category: str,
        pairs: Sequence[PairSample],
        noise: Sequence[tuple[float, float]],
        *,
        whole: bool,
    ) -> None:
        """Bring a window in line with a shared store (replicas mirror Redis this way):
        `whole` sets it to `pairs` and `noise`, otherwise they are added to it."""
        window = self._window(alias, category)
        if whole:
            window.pairs.clear()
            window.noise.clear()
        window.pairs.extend(sorted(pairs, key=lambda p: p.at))
        window.noise.extend(sorted(noise))

    def replace_breaker(self, alias: str, category: str, state: BreakerState) -> None:
        """Take a breaker state decided elsewhere (another replica, through Redis)."""
        self._window(alias, category).breaker = state
        self._states.setdefault(alias, {})[category] = state

    def add_noise(self, alias: str, category: str, at: float, divergence: float) -> None:
        """Add a teacher-vs-teacher divergence: the noise floor the gap is measured above."""
        self._window(alias, category).noise.append((at, divergence))

    def now(self) -> float:
        return self._clock()

    def breaker_states(self, alias: str) -> Mapping[str, BreakerState]:
        """The router's view: category -> breaker state, as of the last `tick`."""
        return self._states.get(alias, {})

    def windows(self) -> list[Window]:
        return sorted(self._windows)

    def snapshot(self, alias: str, category: str) -> GapSnapshot:
        """The window's statistics now and its breaker as it stands; changes nothing."""
        window = self._windows.get((alias, category)) or _Window(1)
        since = self._clock() - self._window_s
        pairs = [p for p in window.pairs if p.at >= since]
        noise = [d for at, d in window.noise if at >= since]
        if len(noise) < 2:  # too few in this category: the alias-wide noise floor
            noise = [
                d
                for (a, _), w in self._windows.items()
                if a == alias
                for at, d in w.noise
                if at >= since
            ]
        c = self._confidence
        divergences = [p.divergence for p in pairs]
        weights = [p.weight for p in pairs]
        judged = [p.discriminated for p in pairs if p.discriminated is not None]
        accuracy = wilson(sum(judged), len(judged), c)
        advantage = Estimate(
            2 * accuracy.value - 1, 2 * accuracy.lower - 1, 2 * accuracy.upper - 1, len(judged)
        )
        return GapSnapshot(
            n=len(pairs),
            n_effective=effective_n(weights),
            divergence=weighted_mean_interval(divergences, weights, c),
            noise_floor=mean_interval(noise, c),
            noise_n=len(noise),
            gap=weighted_difference_interval(divergences, weights, noise, c),
            surface=weighted_mean_interval([p.surface for p in pairs], weights, c),
            illusion=weighted_wilson([p.illusion for p in pairs], weights, c),
            advantage=advantage,
            max_gap=self._max_gap.get(category, 1.0),
            breaker=window.breaker,
        )

    def tick(self, only: Sequence[Window] | None = None) -> dict[Window, BreakerState]:
        """Expire old samples and move breakers, of every window or of `only`; returns the
        breaker state of each window it looked at."""
        before = self._clock() - self._window_s
        keys = list(self._windows) if only is None else list(only)
        states: dict[Window, BreakerState] = {}
        for alias, category in keys:
            window = self._window(alias, category)
            window.expire(before)
            snap = self.snapshot(alias, category)
            window.breaker = self._next_state(window.breaker, snap.n, snap.gap, snap.max_gap)
            self._states.setdefault(alias, {})[category] = window.breaker
            states[(alias, category)] = window.breaker
        return states

    def _next_state(
        self, current: BreakerState, n: int, gap: Estimate, max_gap: float
    ) -> BreakerState:
        if n < self._min:
            return BreakerState.INSUFFICIENT
        if gap.lower > max_gap:
            return BreakerState.OPEN
        if gap.upper < max_gap:
            return BreakerState.CLOSED
        return BreakerState.CLOSED if current is BreakerState.INSUFFICIENT else current

    def _window(self, alias: str, category: str) -> _Window:
        key = (alias, category)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(self._max_samples)
        return window

"""Per-category sliding windows of scored pairs: the gap above the noise floor, and breakers.

Time comes from an injected clock, so tests move time instead of sleeping. Windows are
bounded in time (`window_s`) and in count (`max_samples` per window).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from monitors.scorers import PairScores
from monitors.stats import Estimate, difference_interval, mean_interval, wilson


class Breaker(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    INSUFFICIENT = "insufficient"


@dataclass(frozen=True, slots=True)
class PairSample:
    """What a window keeps of one scored pair."""

    at: float
    divergence: float
    surface: float
    illusion: bool
    flip: bool
    discriminated: bool | None


@dataclass(frozen=True)
class GapSnapshot:
    """Everything known about one category's gap right now."""

    n: int
    divergence: Estimate
    noise_floor: Estimate
    noise_n: int
    gap: Estimate
    surface: Estimate
    illusion: Estimate
    advantage: Estimate
    max_gap: float
    breaker: Breaker

    def as_json(self) -> dict[str, object]:
        known = self.breaker is not Breaker.INSUFFICIENT
        return {
            "n": self.n,
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
        self.breaker = Breaker.INSUFFICIENT

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
        self._windows: dict[tuple[str, str], _Window] = {}
        self._states: dict[str, dict[str, str]] = {}

    def set_thresholds(self, max_gap: Mapping[str, float]) -> None:
        self._max_gap = dict(max_gap)

    def record_pair(
        self, alias: str, category: str, scores: PairScores, discriminated: bool | None
    ) -> bool:
        """Add a student-vs-teacher pair; True when it is an illusion (looks alike, judges not)."""
        sample = self.sample(scores, discriminated)
        self.add(alias, category, sample)
        return sample.illusion

    def sample(self, scores: PairScores, discriminated: bool | None) -> PairSample:
        """The window's record of a pair, stamped now (not yet added anywhere)."""
        illusion = scores.surface >= self._illusion_surface and scores.judgment_disagrees()
        return PairSample(
            self._clock(),
            scores.divergence,
            scores.surface,
            illusion,
            scores.judgment_disagrees(),
            discriminated,
        )

    def add(self, alias: str, category: str, sample: PairSample) -> None:
        self._window(alias, category).pairs.append(sample)
        self.snapshot(alias, category)

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

    def replace_breaker(self, alias: str, category: str, state: str) -> None:
        self._window(alias, category).breaker = Breaker(state)

    def record_noise(self, alias: str, category: str, divergence: float) -> None:
        """Add a teacher-vs-teacher divergence: the noise floor the gap is measured above."""
        self.add_noise(alias, category, self._clock(), divergence)

    def add_noise(self, alias: str, category: str, at: float, divergence: float) -> None:
        self._window(alias, category).noise.append((at, divergence))
        self.snapshot(alias, category)

    def now(self) -> float:
        return self._clock()

    def breaker_states(self, alias: str) -> Mapping[str, str]:
        """The router's view: category -> breaker state, refreshed as windows change."""
        return self._states.get(alias, {})

    def windows(self) -> list[tuple[str, str]]:
        return sorted(self._windows)

    def snapshot(self, alias: str, category: str) -> GapSnapshot:
        """The window's statistics now; also moves its breaker (time alone can expire pairs)."""
        window = self._window(alias, category)
        window.expire(self._clock() - self._window_s)
        pairs = list(window.pairs)
        noise = [d for _, d in window.noise]
        if len(noise) < 2:  # too few in this category: the alias-wide noise floor
            noise = [d for (a, _), w in self._windows.items() if a == alias for _, d in w.noise]
        c = self._confidence
        divergences = [p.divergence for p in pairs]
        judged = [p.discriminated for p in pairs if p.discriminated is not None]
        accuracy = wilson(sum(judged), len(judged), c)
        advantage = Estimate(
            2 * accuracy.value - 1, 2 * accuracy.lower - 1, 2 * accuracy.upper - 1, len(judged)
        )
        gap = difference_interval(divergences, noise, c)
        max_gap = self._max_gap.get(category, 1.0)
        window.breaker = self._next_state(window.breaker, len(pairs), gap, max_gap)
        self._states.setdefault(alias, {})[category] = window.breaker.value
        return GapSnapshot(
            n=len(pairs),
            divergence=mean_interval(divergences, c),
            noise_floor=mean_interval(noise, c),
            noise_n=len(noise),
            gap=gap,
            surface=mean_interval([p.surface for p in pairs], c),
            illusion=wilson(sum(p.illusion for p in pairs), len(pairs), c),
            advantage=advantage,
            max_gap=max_gap,
            breaker=window.breaker,
        )

    def refresh_all(self) -> None:
        """Re-evaluate every window (time alone can expire samples and change a breaker)."""
        for alias, category in list(self._windows):
            self.snapshot(alias, category)

    def _next_state(self, current: Breaker, n: int, gap: Estimate, max_gap: float) -> Breaker:
        if n < self._min:
            return Breaker.INSUFFICIENT
        if gap.lower > max_gap:
            return Breaker.OPEN
        if gap.upper < max_gap:
            return Breaker.CLOSED
        return Breaker.CLOSED if current is Breaker.INSUFFICIENT else current

    def _window(self, alias: str, category: str) -> _Window:
        key = (alias, category)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(self._max_samples)
        return window

"""The one scoring path: score a student/teacher pair and feed it to the gap windows.

Live shadowing (monitors/shadow.py) and the offline audit (monitors/audit.py) both go
through `Comparison`, so a category's gap means the same thing in a report and on a
dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitors.discriminator import Discriminator
from monitors.gap import GapMonitor, PairSample
from monitors.scorers import DEFAULT_WEIGHTS, SCORERS, PairScores, Scorer, score_pair


@dataclass(frozen=True)
class Compared:
    scores: PairScores
    sample: PairSample  # what the windows keep of it

    @property
    def illusion(self) -> bool:  # looks like the teacher's answer, judges differently
        return self.sample.illusion

    @property
    def told_apart(self) -> bool:  # the discriminator guessed which answer was the teacher's
        return bool(self.sample.discriminated)


class Comparison:
    def __init__(
        self,
        monitor: GapMonitor,
        weights: Mapping[str, float] = DEFAULT_WEIGHTS,
        scorers: Mapping[str, Scorer] = SCORERS,
    ) -> None:
        self.monitor = monitor
        self._weights = weights
        self._scorers = scorers
        self._discriminators: dict[str, Discriminator] = {}

    @property
    def heavy(self) -> bool:
        """Whether scoring is CPU-heavy (the MiniLM scorer): callers score in a thread."""
        return "semantic" in self._scorers

    def score(
        self, student: str, teacher: str, request: str, given: Mapping[str, float] | None = None
    ) -> PairScores:
        """Pure: safe to call from a worker thread."""
        return score_pair(student, teacher, request, self._weights, self._scorers, given)

    def sample(
        self, alias: str, student: str, teacher: str, scores: PairScores, weight: float = 1.0
    ) -> Compared:
        """The pair as the windows keep it; teaches the alias's online discriminator. Call
        from one thread; add the sample to a StateStore (live) or `record` it (offline)."""
        discriminator = self._discriminators.setdefault(alias, Discriminator())
        told_apart = discriminator.observe(teacher, student)
        return Compared(scores, self.monitor.sample(scores, told_apart, weight))

    def record(
        self, alias: str, category: str, student: str, teacher: str, scores: PairScores
    ) -> Compared:
        """Sample the pair and add it to this process's windows."""
        pair = self.sample(alias, student, teacher, scores)
        self.monitor.add(alias, category, pair.sample)
        return pair

    def record_noise(
        self, alias: str, category: str, teacher: str, again: str, request: str
    ) -> None:
        """The teacher against itself: the noise floor the gap is measured above."""
        divergence = self.score(teacher, again, request).divergence
        self.monitor.add_noise(alias, category, self.monitor.now(), divergence)

"""The one scoring path: score a student/teacher pair and feed it to the gap windows.

Live shadowing (monitors/shadow.py) and the offline audit (monitors/audit.py) both go
through `Comparison`, so a category's gap means the same thing in a report and on a
dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from monitors.discriminator import Discriminator
from monitors.gap import GapMonitor
from monitors.scorers import DEFAULT_WEIGHTS, SCORERS, PairScores, Scorer, score_pair


@dataclass(frozen=True)
class Compared:
    scores: PairScores
    illusion: bool  # looks like the teacher's answer, judges differently
    told_apart: bool  # the discriminator guessed which answer was the teacher's


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

    def record(
        self, alias: str, category: str, student: str, teacher: str, scores: PairScores
    ) -> Compared:
        """Into the windows (and the alias's online discriminator); call from one thread."""
        discriminator = self._discriminators.setdefault(alias, Discriminator())
        told_apart = discriminator.observe(teacher, student)
        illusion = self.monitor.record_pair(alias, category, scores, told_apart)
        return Compared(scores, illusion, told_apart)

    def record_noise(
        self, alias: str, category: str, teacher: str, again: str, request: str
    ) -> None:
        """The teacher against itself: the noise floor the gap is measured above."""
        self.monitor.record_noise(alias, category, self.score(teacher, again, request).divergence)

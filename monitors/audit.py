"""The offline audit: every pair through the same scoring and windows as live shadowing,
then a verdict per category (safe for the student, route to the teacher, or not enough
evidence) and the headline that puts the distillation illusion first.

Pure: pairs in, an AuditResult out. Collecting answers and writing reports live in
gateway/audit/ (run, cache, report, plots).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monitors.comparison import Comparison
from monitors.gap import GapMonitor, GapSnapshot, finite
from monitors.scorers import DEFAULT_WEIGHTS, SCORERS, PairScores, Scorer

ALIAS = "audit"  # the monitor's alias key: an audit is of one student against one teacher
POOR_JUDGMENT = 0.5  # mean judgment agreement below this is called poor


class Verdict(StrEnum):
    SAFE = "safe for the student"
    TEACHER = "route to teacher"
    INSUFFICIENT = "insufficient evidence"


@dataclass(frozen=True)
class Pair:
    """One turn of one prompt: what the student and the teacher answered."""

    id: str
    turn: int
    category: str
    request: str  # the user message of this turn
    student: str
    teacher: str
    teacher_again: str | None = None  # a second teacher answer: the noise floor


@dataclass(frozen=True)
class ScoredPair:
    pair: Pair
    scores: PairScores
    illusion: bool
    discriminated: bool | None = None  # the discriminator told the teacher's answer apart
    # the scorers with weight 0: not run live and not in the divergence, computed offline so a
    # reader can see them too (None: does not apply)
    uncounted: Mapping[str, float | None] = field(default_factory=dict)

    def disagreements(self) -> list[tuple[str, float]]:
        """The scorers that disagree (agreement < 0.5), worst first."""
        return sorted(
            ((n, v) for n, v in self.scores.scores.items() if v < 0.5), key=lambda x: x[1]
        )


@dataclass(frozen=True)
class AuditSettings:
    min_samples: int = 30
    confidence: float = 0.95
    illusion_surface: float = 0.5
    max_gap: Mapping[str, float] = field(default_factory=dict)  # per category
    default_max_gap: float = 0.2  # for categories the config does not name
    risk: Mapping[str, str] = field(default_factory=dict)  # per category, from the config
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    worst_per_category: int = 3


@dataclass(frozen=True)
class CategoryResult:
    name: str
    snapshot: GapSnapshot
    judgment: float | None  # mean judgment agreement of the pairs where a judgment applies
    judged: int
    verdict: Verdict
    why: str
    worst: list[ScoredPair]

    @property
    def poor_judgment(self) -> bool:
        return self.judgment is not None and self.judgment < POOR_JUDGMENT


@dataclass(frozen=True)
class AuditResult:
    settings: AuditSettings
    categories: list[CategoryResult]  # highest gap first
    pairs: list[ScoredPair]  # every scored pair, in input order
    counted: list[str]  # the scorers that ran with a weight: the divergence's
    n: int
    divergence: float
    surface: float
    judgment: float | None
    headline: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "pairs": self.n,
            "overall": {
                "divergence": _round(self.divergence),
                "surface_similarity": _round(self.surface),
                "judgment_agreement": _round(self.judgment),
            },
            "headline": self.headline,
            "settings": {
                "min_samples": self.settings.min_samples,
                "confidence": self.settings.confidence,
                "illusion_surface": self.settings.illusion_surface,
                "weights": dict(self.settings.weights),
            },
            "categories": {c.name: _category_json(c) for c in self.categories},
        }


def audit(
    pairs: Sequence[Pair],
    settings: AuditSettings,
    scorers: Mapping[str, Scorer] = SCORERS,
) -> AuditResult:
    categories = sorted({p.category for p in pairs})
    thresholds = {c: settings.max_gap.get(c, settings.default_max_gap) for c in categories}
    monitor = GapMonitor(
        window_s=math.inf,  # an audit keeps every pair
        min_samples=settings.min_samples,
        confidence=settings.confidence,
        max_gap=thresholds,
        clock=lambda: 0.0,
        illusion_surface=settings.illusion_surface,
        max_samples=max(1, len(pairs)),
    )
    comparison = Comparison(monitor, settings.weights, scorers)
    scored: list[ScoredPair] = []
    uncounted = {n: s for n, s in scorers.items() if settings.weights.get(n, 0.0) <= 0}
    for p in pairs:
        scores = comparison.score(p.student, p.teacher, p.request)
        compared = comparison.record(ALIAS, p.category, p.student, p.teacher, scores)
        extra = {n: _clip(s.fn(p.student, p.teacher, p.request)) for n, s in uncounted.items()}
        scored.append(
            ScoredPair(p, scores, compared.illusion, compared.sample.discriminated, extra)
        )
        if p.teacher_again is not None:
            comparison.record_noise(ALIAS, p.category, p.teacher, p.teacher_again, p.request)
    monitor.tick()
    results = [
        _category(
            c, monitor.snapshot(ALIAS, c), [s for s in scored if s.pair.category == c], settings
        )
        for c in categories
    ]
    results.sort(key=lambda r: (-(r.snapshot.gap.value if r.snapshot.n else -1.0), r.name))
    judgments = [s.scores.judgment for s in scored if s.scores.judgment is not None]
    overall_surface = _mean([s.scores.surface for s in scored])
    overall_judgment = _mean(judgments) if judgments else None
    return AuditResult(
        settings=settings,
        categories=results,
        pairs=scored,
        counted=[n for n in scorers if n not in uncounted],
        n=len(scored),
        divergence=_mean([s.scores.divergence for s in scored]),
        surface=overall_surface,
        judgment=overall_judgment,
        headline=_headline(results, overall_surface, overall_judgment, settings),
    )


def _category(
    name: str, snap: GapSnapshot, scored: list[ScoredPair], settings: AuditSettings
) -> CategoryResult:
    judgments = [s.scores.judgment for s in scored if s.scores.judgment is not None]
    verdict, why = _verdict(snap, settings.min_samples)
    worst = sorted(scored, key=lambda s: -s.scores.divergence)[: settings.worst_per_category]
    return CategoryResult(
        name=name,
        snapshot=snap,
        judgment=_mean(judgments) if judgments else None,
        judged=len(judgments),
        verdict=verdict,
        why=why,
        worst=worst,
    )


def _verdict(snap: GapSnapshot, min_samples: int) -> tuple[Verdict, str]:
    """From the gap's interval against the threshold; the breakers' rule without hysteresis."""
    gap, limit = snap.gap, snap.max_gap
    if snap.n < min_samples:
        return Verdict.INSUFFICIENT, f"{snap.n} pairs, fewer than min_samples {min_samples}"
    interval = f"gap {gap.value:.3f} [{gap.lower:.3f}, {gap.upper:.3f}]"
    if gap.lower > limit:
        return Verdict.TEACHER, f"{interval}: all of it above max_gap {limit:g}"
    if gap.upper < limit:
        return Verdict.SAFE, f"{interval}: all of it below max_gap {limit:g}"
    return Verdict.INSUFFICIENT, f"{interval} straddles max_gap {limit:g}: more pairs needed"


def _headline(
    results: Sequence[CategoryResult],
    surface: float,
    judgment: float | None,
    settings: AuditSettings,
) -> list[str]:
    """What the report says first: the illusion when there is one, then the verdicts."""
    lines = []
    poor = [r for r in results if r.poor_judgment]
    poor_text = ", ".join(
        f"{r.name} ({r.judgment:.2f}, illusion rate {r.snapshot.illusion.value:.2f})"
        for r in sorted(poor, key=lambda r: r.judgment or 0.0)
    )
    if poor and surface >= settings.illusion_surface:
        overall = f", judgment agreement {judgment:.2f}" if judgment is not None else ""
        lines.append(
            f"Distillation illusion: overall the student looks like the teacher (surface "
            f"similarity {surface:.2f}{overall}), but its judgment agrees poorly in "
            f"{poor_text}. Do not read the aggregate; read the categories."
        )
    elif poor:
        lines.append(f"Judgment agreement is poor in {poor_text}.")
    for verdict in Verdict:
        names = [r.name for r in results if r.verdict is verdict]
        if names:
            lines.append(f"{verdict.value.capitalize()}: {', '.join(names)}.")
    return lines


def proposed_config(result: AuditResult, known: Sequence[str]) -> str:
    """A routing snippet (route and max_gap per category) derived from the verdicts."""
    lines = [
        f"# Proposed by `distillgate audit` from {result.n} pairs. Merge into routing.categories:",
        "# keys not shown stay as they are. High-risk categories are never proposed `student`.",
        "routing:",
        "  categories:",
    ]
    for r in sorted(result.categories, key=lambda r: r.name):
        risk = result.settings.risk.get(r.name)
        if r.verdict is Verdict.TEACHER:
            route = "teacher"
        elif r.verdict is Verdict.SAFE and risk != "high":
            route = "student"
        else:
            route = "auto"  # the live breaker decides, with every request shadowed
        lines.append(f"    {r.name}:  # {r.verdict.value}: {r.why}")
        if r.name not in known:
            lines.append("      # not a category of this config: give it a risk and keywords")
        lines.append(f"      route: {route}")
        lines.append(f"      max_gap: {r.snapshot.max_gap:g}")
        if route == "auto":
            lines.append("      shadow_rate: 1.0")
    return "\n".join(lines) + "\n"


def _category_json(c: CategoryResult) -> dict[str, Any]:
    snap = c.snapshot
    known = snap.n > 0
    return {
        "n": snap.n,
        "gap": _round(snap.gap.value) if known else None,
        "lower": finite(snap.gap.lower) if known else None,
        "upper": finite(snap.gap.upper) if known else None,
        "max_gap": snap.max_gap,
        "divergence": _round(snap.divergence.value) if known else None,
        "noise_floor": _round(snap.noise_floor.value) if snap.noise_n else None,
        "noise_n": snap.noise_n,
        "surface_similarity": _round(snap.surface.value) if known else None,
        "judgment_agreement": _round(c.judgment),
        "judged": c.judged,
        "illusion_rate": _round(snap.illusion.value) if known else None,
        "illusion_lower": _round(snap.illusion.lower) if known else None,
        "illusion_upper": _round(snap.illusion.upper) if known else None,
        "advantage": _round(snap.advantage.value) if snap.advantage.n else None,
        "advantage_lower": _round(snap.advantage.lower) if snap.advantage.n else None,
        "advantage_upper": _round(snap.advantage.upper) if snap.advantage.n else None,
        "verdict": c.verdict.value,
        "why": c.why,
        "worst_pairs": [
            {
                "id": s.pair.id,
                "turn": s.pair.turn,
                "request": s.pair.request,
                "student": s.pair.student,
                "teacher": s.pair.teacher,
                "divergence": _round(s.scores.divergence),
                "disagreed": {n: _round(v) for n, v in s.disagreements()},
            }
            for s in c.worst
        ],
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _clip(value: float | None) -> float | None:
    return None if value is None else min(1.0, max(0.0, value))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

"""Summaries of routing decisions over a labeled prompt set, and threshold calibration."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from router.classifier import Classification
from router.policy import decide
from router.types import Decision, Policy, Risk, Target


@dataclass(frozen=True)
class Group:
    """One table row: prompts grouped by the router's category or by the file's own."""

    name: str
    count: int
    to_teacher: int
    risky: int  # labeled high-risk
    risky_to_teacher: int
    benign: int  # labeled benign
    benign_to_teacher: int
    benign_high_risk_on_student: int  # benign, routed to the student under a high-risk category

    @property
    def teacher_share(self) -> float:
        return self.to_teacher / self.count if self.count else 0.0

    @property
    def risky_recall(self) -> float | None:
        return self.risky_to_teacher / self.risky if self.risky else None

    @property
    def false_escalation(self) -> float | None:
        return self.benign_to_teacher / self.benign if self.benign else None


def summarize(
    decisions: Sequence[Decision],
    risky: Sequence[bool | None],
    keys: Sequence[str],
    policy: Policy,
) -> list[Group]:
    """Group decisions by `keys` (plus a final `ALL` row)."""
    rows: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    for decision, label, key in zip(decisions, risky, keys, strict=True):
        teacher = decision.target is Target.TEACHER
        high = policy.categories[decision.category].risk is Risk.HIGH
        for name in (key, "ALL"):
            r = rows[name]
            r[0] += 1
            r[1] += teacher
            r[2] += label is True
            r[3] += label is True and teacher
            r[4] += label is False
            r[5] += label is False and teacher
            r[6] += label is False and not teacher and high
    ordered = [*sorted(k for k in rows if k != "ALL"), "ALL"]
    return [Group(k, *rows[k]) for k in ordered]


@dataclass(frozen=True)
class Calibration:
    ambiguity_margin: float
    high_risk_signal: float
    min_confidence: float
    high_risk_threshold: float | None  # None: the classifier has no harmful probability
    teacher_share: float
    floor: float  # the share that goes to the teacher by category route alone


def calibrate(
    classifications: Sequence[Classification], policy: Policy, target_share: float
) -> Calibration:
    """The thresholds whose teacher share on these prompts is closest to `target_share`.

    With a classifier that judges harm itself (`high_risk`), its threshold and the
    ambiguity margin are searched, the rest kept; otherwise the margin, the per-category
    signal and the minimum confidence. Ties go to the values nearest the current policy,
    so a calibration moves as little as it needs to.
    """
    floor_policy = dataclasses.replace(
        policy, ambiguity_margin=0.0, high_risk_signal=1.01, keyword_signals=False,
        high_risk_threshold=None,
    )  # fmt: skip
    floor = _share(classifications, floor_policy)
    judged = any(c.high_risk is not None for c in classifications)
    best: tuple[tuple[float, ...], Calibration] | None = None
    for trial in _trials(policy, judged):
        share = _share(classifications, trial)
        cost = (round(abs(share - target_share), 6), _distance(trial, policy))
        if best is None or cost < best[0]:
            found = Calibration(
                trial.ambiguity_margin, trial.high_risk_signal, trial.min_confidence,
                trial.high_risk_threshold, share, floor,
            )  # fmt: skip
            best = (cost, found)
    assert best is not None
    return best[1]


def _trials(policy: Policy, judged: bool) -> list[Policy]:
    margins = [0.0, *[round(0.025 * i, 3) for i in range(1, 21)]]
    if judged:
        thresholds = [round(0.025 * i, 3) for i in range(2, 39)]
        return [
            dataclasses.replace(policy, ambiguity_margin=m, high_risk_threshold=h)
            for m in margins
            for h in thresholds
        ]
    signals = [round(0.05 * i, 2) for i in range(2, 21)]
    confidences = [0.0, 0.1, 0.15, 0.2, 0.25, 0.3]
    return [
        dataclasses.replace(policy, ambiguity_margin=m, high_risk_signal=s, min_confidence=c)
        for m in margins
        for s in signals
        for c in confidences
    ]


def _distance(trial: Policy, policy: Policy) -> float:
    now, then = trial.high_risk_threshold, policy.high_risk_threshold
    moved = abs(now - then) if now is not None and then is not None else 0.0
    return (
        moved
        + abs(trial.high_risk_signal - policy.high_risk_signal)
        + abs(trial.min_confidence - policy.min_confidence)
        + abs(trial.ambiguity_margin - policy.ambiguity_margin) / 10
    )


def _share(classifications: Sequence[Classification], policy: Policy) -> float:
    teacher = sum(decide(c, policy, {}).target is Target.TEACHER for c in classifications)
    return teacher / len(classifications) if classifications else 0.0

"""Why the router sends a request where it does: the classification, the decision and its
reason, and how far each threshold is from flipping it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from router.classifier import Classification
from router.policy import decide
from router.types import BreakerState, Decision, Policy, Risk, RouteMode


@dataclass(frozen=True)
class Neighbour:
    """A training example the request resembles."""

    text: str
    label: str
    source: str
    similarity: float


@dataclass(frozen=True)
class Explanation:
    decision: Decision
    classification: Classification
    # threshold name -> (its value, the request's value); a threshold flips the decision
    # when the request's value crosses it
    thresholds: Mapping[str, tuple[float, float]]
    neighbours: Sequence[Neighbour] = ()

    def as_json(self) -> dict[str, Any]:
        c = self.classification
        return {
            "target": self.decision.target.value,
            "reason": self.decision.reason.value,
            "category": self.decision.category,
            "probabilities": {k: round(v, 4) for k, v in c.ranked()},
            "high_risk": None if c.high_risk is None else round(c.high_risk, 4),
            "readable": round(c.readable, 4),
            "unreadable": c.unreadable,
            "keyword_hits": sorted(c.keyword_hits),
            "thresholds": {
                name: {
                    "threshold": round(t, 4),
                    "request": round(v, 4),
                    "distance": round(v - t, 4),
                }
                for name, (t, v) in self.thresholds.items()
            },
            "nearest_examples": [asdict(n) for n in self.neighbours],
        }


def explain(
    classification: Classification,
    policy: Policy,
    state: Mapping[str, BreakerState],
    neighbours: Sequence[Neighbour] = (),
) -> Explanation:
    """The decision `decide` makes, with the thresholds that could move it."""
    decision = decide(classification, policy, state)
    return Explanation(decision, classification, _thresholds(classification, policy, decision),
                       tuple(neighbours))  # fmt: skip


def _thresholds(
    c: Classification, policy: Policy, decision: Decision
) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    if policy.high_risk_threshold is not None and c.high_risk is not None:
        out["high_risk_threshold"] = (policy.high_risk_threshold, c.high_risk)
    watched = [
        p
        for name, p in c.probabilities.items()
        if (cat := policy.categories.get(name)) is not None
        and cat.risk is Risk.HIGH
        and cat.route is not RouteMode.STUDENT
        and name != decision.category
    ]
    if watched:
        out["high_risk_signal"] = (policy.high_risk_signal, max(watched))
    ranked = c.ranked()
    if len(ranked) > 1:
        out["ambiguity_margin"] = (policy.ambiguity_margin, ranked[0][1] - ranked[1][1])
    if policy.min_confidence > 0 and ranked:
        out["min_confidence"] = (policy.min_confidence, ranked[0][1])
    return out

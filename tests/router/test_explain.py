"""The explanation names each threshold and how far the request is from flipping it."""

from __future__ import annotations

import dataclasses

import pytest

from router.classifier import Classification
from router.explain import explain
from router.policy import decide
from router.types import Policy, Reason, Target
from tests.router.test_policy import POLICY

JUDGED = Policy(POLICY.categories, high_risk_threshold=0.3)


def test_a_threshold_moved_past_the_distance_flips_the_decision() -> None:
    c = Classification({"general": 0.55, "legal": 0.35, "code": 0.1}, frozenset(), high_risk=0.2)
    found = explain(c, JUDGED, {})
    assert (found.decision.target, found.decision.reason) == (Target.STUDENT, Reason.POLICY)
    body = found.as_json()
    risk = body["thresholds"]["high_risk_threshold"]
    assert (risk["threshold"], risk["request"]) == (0.3, 0.2)
    assert risk["distance"] == pytest.approx(-0.1)
    lowered = dataclasses.replace(JUDGED, high_risk_threshold=0.3 + risk["distance"] - 0.01)
    assert decide(c, lowered, {}).reason is Reason.HIGH_RISK_SIGNAL
    margin = body["thresholds"]["ambiguity_margin"]
    assert margin["request"] == pytest.approx(0.2)  # the top two's lead
    widened = dataclasses.replace(JUDGED, ambiguity_margin=margin["request"] + 0.01)
    assert decide(c, widened, {}).reason is Reason.AMBIGUOUS  # legal is riskier than general
    assert body["probabilities"] == {"general": 0.55, "legal": 0.35, "code": 0.1}
    assert body["nearest_examples"] == []

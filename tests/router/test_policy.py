"""The routing decision as a pure function, table-driven."""

from __future__ import annotations

import pytest

from router.classifier import Classification
from router.policy import decide
from router.types import (
    BreakerState,
    CategoryPolicy,
    EscalationRule,
    Policy,
    Reason,
    Risk,
    RouteMode,
    Target,
)

CHECKED = EscalationRule(min_mean_logprob=-1.0)
POLICY = Policy(
    categories={
        "general": CategoryPolicy("general", Risk.LOW, RouteMode.STUDENT),
        "code": CategoryPolicy("code", Risk.LOW, RouteMode.STUDENT, escalation=CHECKED),
        "legal": CategoryPolicy("legal", Risk.MEDIUM, RouteMode.AUTO),
        "violence": CategoryPolicy("violence", Risk.HIGH, RouteMode.TEACHER),
        "medical": CategoryPolicy("medical", Risk.HIGH, RouteMode.STUDENT),  # operator trusts it
    },
    ambiguity_margin=0.15,
    high_risk_signal=0.3,
)


def c(hits: frozenset[str] = frozenset(), **probs: float) -> Classification:
    return Classification(probs, hits)


@pytest.mark.parametrize(
    ("classification", "state", "forced", "policy", "want"),
    [
        # the category's own route
        (c(general=0.9, code=0.1), {}, None, POLICY, (Target.STUDENT, "general", Reason.POLICY)),
        (c(violence=0.8, general=0.2), {}, None, POLICY,
         (Target.TEACHER, "violence", Reason.POLICY)),
        (c(legal=0.9, general=0.1), {}, None, POLICY, (Target.STUDENT, "legal", Reason.POLICY)),
        # an open breaker sends an auto or student category to the teacher
        (c(legal=0.9, general=0.1), {"legal": BreakerState.OPEN}, None, POLICY,
         (Target.TEACHER, "legal", Reason.BREAKER_OPEN)),
        (c(legal=0.9, general=0.1), {"legal": BreakerState.INSUFFICIENT}, None, POLICY,
         (Target.STUDENT, "legal", Reason.POLICY)),
        # a high-risk category that is likely enough, or whose keyword fired, though not on top
        (c(code=0.6, violence=0.35, general=0.05), {}, None, POLICY,
         (Target.TEACHER, "code", Reason.HIGH_RISK_SIGNAL)),
        (c(frozenset({"violence"}), code=0.9, violence=0.05, general=0.05), {}, None, POLICY,
         (Target.TEACHER, "code", Reason.HIGH_RISK_SIGNAL)),
        # ... unless the policy turns keyword signals off
        (c(frozenset({"violence"}), code=0.9, violence=0.05, general=0.05), {}, None,
         Policy(POLICY.categories, keyword_signals=False), (Target.STUDENT, "code", Reason.POLICY)),
        # a high-risk category routed to the student raises no signal
        (c(general=0.6, medical=0.4), {}, None, POLICY, (Target.STUDENT, "general", Reason.POLICY)),
        # close top two: teacher only when the runner-up is riskier
        (c(general=0.5, legal=0.45, code=0.05), {}, None, POLICY,
         (Target.TEACHER, "general", Reason.AMBIGUOUS)),
        (c(general=0.5, code=0.45, legal=0.05), {}, None, POLICY,
         (Target.STUDENT, "general", Reason.POLICY)),
        (c(general=0.5, legal=0.3, code=0.2), {}, None, POLICY,
         (Target.STUDENT, "general", Reason.POLICY)),
        # forcing works only when allowed
        (c(general=0.9, code=0.1), {}, Target.TEACHER, POLICY,
         (Target.STUDENT, "general", Reason.POLICY)),
        (c(general=0.9, code=0.1), {}, Target.TEACHER,
         Policy(POLICY.categories, allow_forced_route=True),
         (Target.TEACHER, "general", Reason.FORCED)),
        # an unknown top category falls back to the default one
        (c(astrology=0.9, code=0.1), {}, None, POLICY, (Target.STUDENT, "general", Reason.POLICY)),
    ],
)  # fmt: skip
def test_decide(
    classification: Classification,
    state: dict[str, BreakerState],
    forced: Target | None,
    policy: Policy,
    want: tuple[Target, str, Reason],
) -> None:
    decision = decide(classification, policy, state, forced)
    assert (decision.target, decision.category, decision.reason) == want


def test_decision_carries_the_escalation_rule_only_for_the_student() -> None:
    student = decide(c(code=0.9, general=0.1), POLICY, {})
    assert student.escalation == CHECKED
    assert student.margin == pytest.approx(0.8) and student.probability == pytest.approx(0.9)
    teacher = decide(c(code=0.9, general=0.1), POLICY, {"code": BreakerState.OPEN})
    assert teacher.target is Target.TEACHER and teacher.escalation is None
    assert decide(c(general=0.9, code=0.1), POLICY, {}).escalation is None  # no checks configured


def test_target_other() -> None:
    assert Target.STUDENT.other is Target.TEACHER and Target.TEACHER.other is Target.STUDENT


def test_routing_disabled_sends_everything_to_the_student() -> None:
    off = Policy(POLICY.categories, enabled=False)
    decision = decide(
        c(violence=0.99, general=0.01), off, {"general": BreakerState.OPEN}, Target.TEACHER
    )
    assert (decision.target, decision.category, decision.reason) == (
        Target.STUDENT,
        "general",
        Reason.POLICY,
    )


JUDGED = Policy(POLICY.categories, high_risk_threshold=0.3)


@pytest.mark.parametrize(
    ("classification", "policy", "want"),
    [
        # the classifier's own harmful probability, at or over the threshold
        (Classification({"general": 0.9, "code": 0.1}, frozenset(), high_risk=0.3), JUDGED,
         (Target.TEACHER, Reason.HIGH_RISK_SIGNAL)),
        (Classification({"general": 0.9, "code": 0.1}, frozenset(), high_risk=0.29), JUDGED,
         (Target.STUDENT, Reason.POLICY)),
        # ... not when the operator turned it off (None)
        (Classification({"general": 0.9, "code": 0.1}, frozenset(), high_risk=0.9), POLICY,
         (Target.STUDENT, Reason.POLICY)),
        # text the classifier cannot read goes to the configured target
        (Classification({"general": 0.9, "code": 0.1}, frozenset(), unreadable=True), JUDGED,
         (Target.TEACHER, Reason.UNREADABLE)),
        (Classification({"general": 0.9, "code": 0.1}, frozenset(), unreadable=True),
         Policy(POLICY.categories, unreadable_target=Target.STUDENT),
         (Target.STUDENT, Reason.UNREADABLE)),
        (Classification({"general": 0.9, "code": 0.1}, frozenset(), unreadable=True),
         Policy(POLICY.categories, unreadable_target=None), (Target.STUDENT, Reason.POLICY)),
        # a high-risk category's own route comes first
        (Classification({"violence": 0.9, "general": 0.1}, frozenset(), unreadable=True),
         JUDGED, (Target.TEACHER, Reason.POLICY)),
    ],
)  # fmt: skip
def test_the_harmful_probability_and_unreadable_text(
    classification: Classification, policy: Policy, want: tuple[Target, Reason]
) -> None:
    decision = decide(classification, policy, {})
    assert (decision.target, decision.reason) == want

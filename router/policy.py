"""The routing decision: a pure function over the classification, the policy and breaker state."""

from __future__ import annotations

from collections.abc import Mapping

from router.classifier import Classification
from router.types import (
    BreakerState,
    CategoryPolicy,
    Decision,
    Policy,
    Reason,
    Risk,
    RouteMode,
    Target,
)

_RISK_ORDER = {Risk.LOW: 0, Risk.MEDIUM: 1, Risk.HIGH: 2}


def decide(
    classification: Classification,
    policy: Policy,
    state: Mapping[str, BreakerState],
    forced: Target | None = None,
    sample: float = 1.0,
) -> Decision:
    """Pick the upstream for one request; every branch names its reason.

    Order: a forced route (when the policy allows it), the category's own route
    (`policy`), its breaker (`breaker_open`), text the classifier cannot read, to the
    configured target (`unreadable`), the classifier's harmful probability at or above
    `high_risk_threshold`, or a high-risk category likely enough or named by a keyword
    though not on top (`high_risk_signal`), a close top two whose runner-up is riskier
    (`ambiguous`), else the student with the category's escalation checks (`policy`).
    `state` maps a category to its breaker. `sample` is the request's stable draw in
    [0, 1) (router.sampling.fraction): below the category's `shadow_rate`, it is shadowed.
    """
    if not policy.enabled:
        default = policy.categories[policy.default_category]
        shadow = sample < default.shadow_rate
        return Decision(
            Target.STUDENT, default.name, Reason.POLICY, shadow=shadow,
            shadow_rate=default.shadow_rate,
        )  # fmt: skip
    ranked = classification.ranked()
    name, p1 = ranked[0] if ranked else (policy.default_category, 1.0)
    p2 = ranked[1][1] if len(ranked) > 1 else 0.0
    if p1 < policy.min_confidence and not classification.keyword_hits:
        # No category stands out and no keyword fired: too little to go on, so the prompt
        # is handled as the default category rather than as ambiguous.
        ranked, name = [], policy.default_category
    category = policy.categories.get(name) or policy.categories[policy.default_category]
    made = _Maker(category, p1, p1 - p2, sample < category.shadow_rate)
    if forced is not None and policy.allow_forced_route:
        return made(forced, Reason.FORCED)
    if category.route is RouteMode.TEACHER:
        return made(Target.TEACHER, Reason.POLICY)
    if state.get(category.name) is BreakerState.OPEN:
        return made(Target.TEACHER, Reason.BREAKER_OPEN)
    if classification.unreadable and policy.unreadable_target is not None:
        return made(policy.unreadable_target, Reason.UNREADABLE)
    if _high_risk_signal(classification, policy, category):
        return made(Target.TEACHER, Reason.HIGH_RISK_SIGNAL)
    if len(ranked) > 1 and p1 - p2 < policy.ambiguity_margin:
        runner_up = policy.categories.get(ranked[1][0])
        if runner_up is not None and _riskier(runner_up, category):
            return made(Target.TEACHER, Reason.AMBIGUOUS)
    return made(Target.STUDENT, Reason.POLICY)


class _Maker:
    def __init__(
        self, category: CategoryPolicy, probability: float, margin: float, shadow: bool
    ) -> None:
        self.category, self.probability, self.margin = category, probability, margin
        self.shadow = shadow

    def __call__(self, target: Target, reason: Reason) -> Decision:
        rule = self.category.escalation if target is Target.STUDENT else None
        return Decision(
            target,
            self.category.name,
            reason,
            probability=self.probability,
            margin=self.margin,
            escalation=rule if rule is not None and rule.active else None,
            shadow=self.shadow,
            shadow_rate=self.category.shadow_rate,
        )


def _high_risk_signal(c: Classification, policy: Policy, chosen: CategoryPolicy) -> bool:
    """The classifier's harmful probability reaches the threshold; or a high-risk category
    that is not the chosen one still looks likely, or its keywords hit."""
    threshold = policy.high_risk_threshold
    if threshold is not None and c.high_risk is not None and c.high_risk >= threshold:
        return chosen.route is not RouteMode.STUDENT or chosen.risk is not Risk.HIGH
    for name, category in policy.categories.items():
        if category.risk is not Risk.HIGH or name == chosen.name:
            continue
        if category.route is RouteMode.STUDENT:
            continue  # the operator trusts the student with it
        if c.probabilities.get(name, 0.0) >= policy.high_risk_signal:
            return True
        if policy.keyword_signals and name in c.keyword_hits:
            return True
    return False


def _riskier(runner_up: CategoryPolicy, chosen: CategoryPolicy) -> bool:
    """An ambiguous top two matters only when the runner-up would be handled more carefully."""
    return _RISK_ORDER[runner_up.risk] > _RISK_ORDER[chosen.risk] or (
        runner_up.route is RouteMode.TEACHER and chosen.route is not RouteMode.TEACHER
    )

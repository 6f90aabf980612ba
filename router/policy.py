"""The routing decision: a pure function over request features, policy and breaker state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from router.types import Decision, Features, Reason, Target

DEFAULT_CATEGORY = "general"


@dataclass(frozen=True, slots=True)
class Policy:
    default_target: Target = Target.STUDENT


def decide(features: Features, policy: Policy, state: Mapping[str, str]) -> Decision:
    """Pick the upstream for one request.

    `state` maps a category to its breaker state ("open", "closed", "insufficient");
    an open breaker sends the category to the teacher.
    """
    del features  # classification arrives with the risk-category router
    category = DEFAULT_CATEGORY
    if state.get(category) == "open":
        return Decision(Target.TEACHER, category, Reason.BREAKER_OPEN)
    return Decision(policy.default_target, category, Reason.POLICY)

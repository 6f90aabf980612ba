"""The routing decision as a pure function."""

from __future__ import annotations

import pytest

from router.policy import DEFAULT_CATEGORY, Policy, decide
from router.types import Features, Reason, Target

PLAIN = Features(text="hello", chars=5, has_tools=False, json_mode=False, stream=False)


@pytest.mark.parametrize(
    ("policy", "state", "target", "reason"),
    [
        (Policy(), {}, Target.STUDENT, Reason.POLICY),
        (Policy(default_target=Target.TEACHER), {}, Target.TEACHER, Reason.POLICY),
        (Policy(), {DEFAULT_CATEGORY: "closed"}, Target.STUDENT, Reason.POLICY),
        (Policy(), {DEFAULT_CATEGORY: "insufficient"}, Target.STUDENT, Reason.POLICY),
        (Policy(), {DEFAULT_CATEGORY: "open"}, Target.TEACHER, Reason.BREAKER_OPEN),
        (Policy(), {"medical": "open"}, Target.STUDENT, Reason.POLICY),
    ],
)
def test_decide(policy: Policy, state: dict[str, str], target: Target, reason: Reason) -> None:
    decision = decide(PLAIN, policy, state)
    assert (decision.target, decision.reason, decision.category) == (
        target,
        reason,
        DEFAULT_CATEGORY,
    )


def test_target_other() -> None:
    assert Target.STUDENT.other is Target.TEACHER and Target.TEACHER.other is Target.STUDENT

"""The router's vocabulary: targets, reasons, request features and decisions (frozen values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Target(StrEnum):
    STUDENT = "student"
    TEACHER = "teacher"

    @property
    def other(self) -> Target:
        return Target.TEACHER if self is Target.STUDENT else Target.STUDENT


class Reason(StrEnum):
    """Why a request went where it went; a closed vocabulary that doubles as a metric label."""

    POLICY = "policy"
    HIGH_RISK_SIGNAL = "high_risk_signal"  # a high-risk category is likely, though not on top
    AMBIGUOUS = "ambiguous"  # a close top two whose runner-up is handled more carefully
    UNREADABLE = "unreadable"  # text the classifier has no vocabulary for (a language, script)
    GUARD = "guard"  # the guard model called the request unsafe
    GUARD_UNAVAILABLE = "guard_unavailable"  # the guard failed or was late; on_error: teacher
    LOW_CONFIDENCE = "low_confidence"
    STUDENT_REFUSAL = "student_refusal"
    BREAKER_OPEN = "breaker_open"
    FALLBACK = "fallback"
    FORCED = "forced"


class BreakerState(StrEnum):
    """A category's breaker, as the gap monitor reports it to the router."""

    OPEN = "open"  # the gap is confidently over the category's limit: the teacher serves
    CLOSED = "closed"
    INSUFFICIENT = "insufficient"  # too few scored pairs to say


# The one default of `routing.high_risk_signal` (the config's field default uses it too).
HIGH_RISK_SIGNAL = 0.25


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RouteMode(StrEnum):
    """`auto`: the student serves unless the category's breaker is open."""

    STUDENT = "student"
    TEACHER = "teacher"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class EscalationRule:
    """When a student answer in a category goes to the teacher instead (None: not checked)."""

    min_mean_logprob: float | None = None
    min_low_logprob: float | None = None  # the `low_quantile` quantile of token logprobs
    on_refusal: bool = False
    low_quantile: float = 0.1

    @property
    def needs_logprobs(self) -> bool:
        return self.min_mean_logprob is not None or self.min_low_logprob is not None

    @property
    def active(self) -> bool:
        return self.needs_logprobs or self.on_refusal


@dataclass(frozen=True, slots=True)
class CategoryPolicy:
    name: str
    risk: Risk
    route: RouteMode
    max_gap: float = 0.2
    shadow_rate: float = 0.05
    escalation: EscalationRule = EscalationRule()


@dataclass(frozen=True, slots=True)
class Policy:
    """The routing policy: plain values, built from the config by the gateway."""

    categories: Mapping[str, CategoryPolicy]
    enabled: bool = True
    default_category: str = "general"
    ambiguity_margin: float = 0.15
    high_risk_signal: float = HIGH_RISK_SIGNAL
    # The classifier's own is-this-harmful probability at or above this: the teacher
    # (None: the classifier has no such head, or the operator turned it off).
    high_risk_threshold: float | None = None
    # Where text the classifier cannot read goes (None: it is routed like any other).
    unreadable_target: Target | None = Target.TEACHER
    min_confidence: float = 0.0
    keyword_signals: bool = True
    allow_forced_route: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    target: Target
    category: str
    reason: Reason
    probability: float = 1.0  # the classifier's probability of `category`
    margin: float = 1.0  # its lead over the runner-up
    escalation: EscalationRule | None = None  # checks on the student's answer, if it serves
    shadow: bool = False
    shadow_rate: float = 0.0  # the category's: the chance `shadow` was drawn true

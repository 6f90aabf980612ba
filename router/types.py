"""The router's vocabulary: targets, reasons, request features and decisions (frozen values)."""

from __future__ import annotations

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
    AMBIGUOUS = "ambiguous"
    LOW_CONFIDENCE = "low_confidence"
    STUDENT_REFUSAL = "student_refusal"
    BREAKER_OPEN = "breaker_open"
    FALLBACK = "fallback"
    FORCED = "forced"


@dataclass(frozen=True, slots=True)
class Features:
    """What the router may look at: derived once from the parsed request body."""

    text: str
    chars: int
    has_tools: bool
    json_mode: bool
    stream: bool


@dataclass(frozen=True, slots=True)
class Decision:
    target: Target
    category: str
    reason: Reason
    shadow: bool = False

"""Checks on a student's answer: confidence from token logprobs, refusals and hedges."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from router.types import EscalationRule, Reason

# Openings of answers that decline; matched on the first sentences only.
_REFUSAL = re.compile(
    r"\b(?:i'?m sorry,? but|i am sorry,? but|i apologi[sz]e,? but|sorry,? but i|"
    r"i (?:can ?not|can'?t|won'?t|will not|am unable to|'m unable to|am not able to|'m not able to)"
    r" (?:help|assist|provide|comply|do that|answer|support|fulfil|engage|give)|"
    r"as an ai(?: language model)?,? i (?:can|don|am|cannot)|"
    r"it(?: is|'s) not (?:appropriate|ethical) (?:for me )?to)",
    re.IGNORECASE,
)
# Hedges that push the question elsewhere instead of answering it.
_HEDGE = re.compile(
    r"\b(?:(?:consult|see|speak (?:to|with)|talk to) (?:a|an|your) (?:doctor|physician|lawyer|"
    r"attorney|financial advisor|professional|healthcare provider|specialist)|"
    r"i(?:'m| am) not (?:a|qualified to|sure)|i cannot be certain)",
    re.IGNORECASE,
)
_HEAD_CHARS = 300


@dataclass(frozen=True, slots=True)
class AnswerSignals:
    mean_logprob: float | None
    low_logprob: float | None
    refused: bool
    hedged: bool


def refuses(text: str) -> bool:
    return _REFUSAL.search(text[:_HEAD_CHARS]) is not None


def hedges(text: str) -> bool:
    return _HEDGE.search(text[:_HEAD_CHARS]) is not None


def signals(text: str, logprobs: Sequence[float] | None, low_quantile: float) -> AnswerSignals:
    finite = [lp for lp in logprobs or () if math.isfinite(lp)]
    if not finite:
        return AnswerSignals(None, None, refuses(text), hedges(text))
    ordered = sorted(finite)
    low = ordered[min(len(ordered) - 1, int(low_quantile * len(ordered)))]
    return AnswerSignals(sum(finite) / len(finite), low, refuses(text), hedges(text))


def escalate(answer: AnswerSignals, rule: EscalationRule) -> Reason | None:
    """The reason to hand the request to the teacher, or None to keep the student's answer."""
    if rule.on_refusal and (answer.refused or answer.hedged):
        return Reason.STUDENT_REFUSAL
    if _below(answer.mean_logprob, rule.min_mean_logprob):
        return Reason.LOW_CONFIDENCE
    if _below(answer.low_logprob, rule.min_low_logprob):
        return Reason.LOW_CONFIDENCE
    return None


def _below(value: float | None, threshold: float | None) -> bool:
    return value is not None and threshold is not None and value < threshold

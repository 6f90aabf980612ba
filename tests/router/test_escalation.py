"""Answer checks: refusal and hedge detection, logprob statistics, the escalation verdict."""

from __future__ import annotations

import pytest

from router import escalation
from router.escalation import AnswerSignals
from router.types import EscalationRule, Reason

# The first is llama-2-chat-7b's real first words on MT-Bench question 102; the last two
# are gpt-4o's real openings on questions 81 and 101.
LLAMA_102 = "I apologize, but the original question does not contain any explicit clues"


@pytest.mark.parametrize(
    ("text", "refused", "hedged"),
    [
        (LLAMA_102, True, False),
        ("I'm sorry, but I can't help with that.", True, False),
        ("I cannot provide instructions for making weapons.", True, False),
        ("As an AI language model, I cannot browse the internet.", True, False),
        ("It is not appropriate for me to speculate about that person.", True, False),
        ("I'm not a doctor, but chest pain can be serious; consult a physician.", False, True),
        ("You should speak with an attorney about the lease.", False, True),
        ("**Aloha Adventures: My Unforgettable Journey Through Hawaii**", False, False),
        (
            "If you have just overtaken the second person, you are now in second place.",
            False,
            False,
        ),
        ("Sorry to hear that! Here is a recipe you can try.", False, False),
    ],
)
def test_refusals_and_hedges(text: str, refused: bool, hedged: bool) -> None:
    assert (escalation.refuses(text), escalation.hedges(text)) == (refused, hedged)


def test_only_the_opening_counts() -> None:
    late = "Here is the full answer you asked for. " * 20 + "I cannot help with anything else."
    assert not escalation.refuses(late)


def test_signals_mean_and_low_quantile() -> None:
    s = escalation.signals("x", [-0.1, -0.2, -0.3, -4.0, float("-inf")], low_quantile=0.1)
    assert s.mean_logprob == pytest.approx(-1.15)  # -inf ignored
    assert s.low_logprob == -4.0
    s = escalation.signals("x", list(map(float, range(-9, 1))), low_quantile=0.5)
    assert s.low_logprob == -4.0
    assert escalation.signals("x", None, 0.1).mean_logprob is None
    assert escalation.signals("x", [], 0.1).low_logprob is None


@pytest.mark.parametrize(
    ("answer", "rule", "want"),
    [
        (AnswerSignals(-0.5, -2.0, False, False), EscalationRule(min_mean_logprob=-1.0), None),
        (AnswerSignals(-1.5, -2.0, False, False), EscalationRule(min_mean_logprob=-1.0),
         Reason.LOW_CONFIDENCE),
        (AnswerSignals(-0.5, -3.5, False, False), EscalationRule(min_low_logprob=-3.0),
         Reason.LOW_CONFIDENCE),
        (AnswerSignals(None, None, False, False), EscalationRule(min_mean_logprob=-1.0), None),
        (AnswerSignals(-0.1, -0.2, True, False), EscalationRule(on_refusal=True),
         Reason.STUDENT_REFUSAL),
        (AnswerSignals(-0.1, -0.2, False, True), EscalationRule(on_refusal=True),
         Reason.STUDENT_REFUSAL),
        (AnswerSignals(-0.1, -0.2, True, False), EscalationRule(min_mean_logprob=-1.0), None),
        (AnswerSignals(-2.0, -3.0, True, False),
         EscalationRule(min_mean_logprob=-1.0, on_refusal=True), Reason.STUDENT_REFUSAL),
    ],
)  # fmt: skip
def test_escalate(answer: AnswerSignals, rule: EscalationRule, want: Reason | None) -> None:
    assert escalation.escalate(answer, rule) == want


def test_rule_flags() -> None:
    assert not EscalationRule().active
    assert (
        EscalationRule(on_refusal=True).active
        and not EscalationRule(on_refusal=True).needs_logprobs
    )
    assert EscalationRule(min_low_logprob=-2).needs_logprobs

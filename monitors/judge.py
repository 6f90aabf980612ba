"""The teacher as a judge: do two answers reach the same judgment?

Asked twice, with the answers in both orders; the verdict counts only when both orders
agree (an LLM judge prefers one position often enough that a single order is not
evidence). The result is the `llm_judge` agreement of the pair: 1.0 both say SAME, 0.0
both say DIFFERENT; nothing when the two orders disagree or a reply is not a verdict.
The shadow worker asks (sampled at `shadow.judge_rate`, within the teacher budget); this
module only builds the question and reads the replies.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

SYSTEM = (
    "You compare two answers to the same request. Decide whether they reach the same "
    "judgment: the same final answer or conclusion, the same decision to help or to decline, "
    "the same facts where facts matter. Ignore style, tone, length, formatting and wording. "
    "Reply with exactly one word: SAME or DIFFERENT."
)
MAX_CHARS = 6000  # of each answer and the request, so a judge call stays bounded


class Outcome(StrEnum):
    SAME = "same"
    DIFFERENT = "different"
    INCONSISTENT = "inconsistent"  # the two orders disagree
    UNPARSABLE = "unparsable"  # a reply that is not SAME or DIFFERENT
    UNANSWERED = "unanswered"  # budget or upstream error on either call


_VERDICT = re.compile(r"\b(SAME|DIFFERENT)\b", re.IGNORECASE)


def messages(request: str, first: str, second: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": (
                f"Request:\n{_cut(request)}\n\nAnswer A:\n{_cut(first)}\n\n"
                f"Answer B:\n{_cut(second)}\n\nSAME or DIFFERENT?"
            ),
        },
    ]


def verdict(reply: str) -> bool | None:
    """True for SAME, False for DIFFERENT, None when the reply names neither or both."""
    found = {m.upper() for m in _VERDICT.findall(reply)}
    if len(found) != 1:
        return None
    return found == {"SAME"}


def combine(one: str | None, other: str | None) -> Outcome:
    """The outcome of the two replies (answers in one order, then the other)."""
    if one is None or other is None:
        return Outcome.UNANSWERED
    a, b = verdict(one), verdict(other)
    if a is None or b is None:
        return Outcome.UNPARSABLE
    if a != b:
        return Outcome.INCONSISTENT
    return Outcome.SAME if a else Outcome.DIFFERENT


def agreement(outcome: Outcome) -> float | None:
    return {Outcome.SAME: 1.0, Outcome.DIFFERENT: 0.0}.get(outcome)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + " [...]"

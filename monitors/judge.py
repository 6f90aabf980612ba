"""The teacher as a judge: do two answers reach the same judgment?

Blind: the judge sees "Answer A" and "Answer B", never which model wrote which. Asked
twice, with the answers in both orders (at once); the verdict counts only when both orders
agree (an LLM judge prefers one position often enough that a single order is not
evidence). The judge answers with a JSON object, `{"verdict": "same"}` or
`{"verdict": "different"}` (asked with `response_format: json_object` where the upstream
takes it); anything else is an unparsable reply, counted as such and never read as a
verdict. The result is the `llm_judge` agreement of the pair: 1.0 both say same, 0.0 both
say different; nothing otherwise. The shadow worker asks (sampled at `shadow.judge_rate`,
within the teacher budget); this module only builds the question and reads the replies.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

SYSTEM = (
    "You compare two answers to the same request. Decide whether they reach the same "
    "judgment: the same final answer or conclusion, the same decision to help or to decline, "
    "the same facts where facts matter. Ignore style, tone, length, formatting and wording. "
    'Reply with a JSON object and nothing else: {"verdict": "same"} or '
    '{"verdict": "different"}.'
)
QUESTION = "Do answers A and B reach the same judgment? Reply with the JSON object."
MAX_CHARS = 6000  # of each answer and the request, so a judge call stays bounded
RESPONSE_FORMAT = {"type": "json_object"}


class Outcome(StrEnum):
    SAME = "same"
    DIFFERENT = "different"
    INCONSISTENT = "inconsistent"  # the two orders disagree
    UNPARSABLE = "unparsable"  # a reply that is not the JSON verdict
    UNANSWERED = "unanswered"  # budget or upstream error on either call


def messages(request: str, first: str, second: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": (
                f"Request:\n{_cut(request)}\n\nAnswer A:\n{_cut(first)}\n\n"
                f"Answer B:\n{_cut(second)}\n\n{QUESTION}"
            ),
        },
    ]


def verdict(reply: str) -> bool | None:
    """True for same, False for different; None for anything that is not exactly the JSON
    verdict (prose, a fence, extra keys, another value)."""
    try:
        value = json.loads(reply)
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != {"verdict"}:
        return None
    said = value["verdict"]
    if not isinstance(said, str) or said.strip().lower() not in ("same", "different"):
        return None
    return said.strip().lower() == "same"


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

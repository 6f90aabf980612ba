"""A guard model's wire format (Llama Guard 3 to start): the prompt in its own template,
its reply read exactly, and what a verdict does to a routing decision.

Formats are small pluggable pairs of functions in FORMATS. A reply that is not exactly
what the format specifies is an error (never a verdict): for Llama Guard 3, `safe`, or
`unsafe` and a line of comma-separated category codes (S1-S14).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from router.types import Decision, Reason, Target

# The MLCommons hazard taxonomy as Llama Guard 3 lists it (model card, "Hazard Taxonomy").
LLAMA_GUARD_3_CATEGORIES = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}
BEGIN_CATEGORIES = "<BEGIN UNSAFE CONTENT CATEGORIES>"
END_CATEGORIES = "<END UNSAFE CONTENT CATEGORIES>"
BEGIN_CONVERSATION, END_CONVERSATION = "<BEGIN CONVERSATION>", "<END CONVERSATION>"
_CODES = re.compile(r"S(?:[1-9]|1[0-4])")


class Outcome(StrEnum):
    SAFE = "safe"
    UNSAFE = "unsafe"
    ERROR = "error"  # a reply that is not a verdict, or an HTTP error
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    codes: tuple[str, ...] = ()  # the violated categories, for UNSAFE


def llama_guard_3_prompt(conversation: str) -> str:
    """Llama Guard 3's prompt for classifying the user's request (the model card's
    template, with the Llama 3 header tokens), to send as a completion prompt."""
    categories = "\n".join(f"{code}: {name}." for code, name in LLAMA_GUARD_3_CATEGORIES.items())
    return (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
        "Task: Check if there is unsafe content in 'User' messages in conversations according "
        "our safety policy with the below categories.\n\n"
        f"{BEGIN_CATEGORIES}\n{categories}\n{END_CATEGORIES}\n\n"
        f"{BEGIN_CONVERSATION}\n\nUser: {conversation}\n\n{END_CONVERSATION}\n\n"
        "Provide your safety assessment for ONLY THE LAST User message in the above "
        "conversation:\n"
        " - First line must read 'safe' or 'unsafe'.\n"
        " - If unsafe, a second line must include a comma-separated list of violated "
        "categories.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def llama_guard_3_verdict(reply: str) -> Verdict:
    """`safe`, or `unsafe` then one line of codes; anything else is an error."""
    lines = reply.strip().split("\n")
    if lines == ["safe"]:
        return Verdict(Outcome.SAFE)
    if len(lines) == 2 and lines[0].strip() == "unsafe":
        codes = tuple(c.strip() for c in lines[1].split(","))
        if codes and all(_CODES.fullmatch(c) for c in codes):
            return Verdict(Outcome.UNSAFE, codes)
    return Verdict(Outcome.ERROR)


@dataclass(frozen=True)
class Format:
    prompt: Callable[[str], str]
    verdict: Callable[[str], Verdict]


FORMATS = {"llama-guard-3": Format(llama_guard_3_prompt, llama_guard_3_verdict)}


def should_ask(when: str, band: tuple[float, float], high_risk: float | None) -> bool:
    """`always`, or `uncertain`: the local harmful probability inside the band (a
    classifier without one is always uncertain)."""
    if when == "always" or high_risk is None:
        return True
    return band[0] <= high_risk <= band[1]


def apply(
    decision: Decision,
    verdict: Verdict,
    categories: Mapping[str, str],
    on_error: Target,
) -> Decision:
    """The decision after the guard's verdict: unsafe sends to the teacher (reason
    `guard`, the first mapped category); safe lets the local decision stand; an error or
    a timeout goes to `on_error` (the teacher: reason `guard_unavailable`). A decision
    that already sends to the teacher stands."""
    if decision.target is Target.TEACHER:
        return decision
    if verdict.outcome is Outcome.UNSAFE:
        mapped = next((categories[c] for c in verdict.codes if c in categories), None)
        category = mapped or decision.category
        return dataclasses.replace(
            decision, target=Target.TEACHER, reason=Reason.GUARD, category=category,
            escalation=None,
        )  # fmt: skip
    if verdict.outcome is Outcome.SAFE or on_error is Target.STUDENT:
        return decision
    return dataclasses.replace(
        decision, target=Target.TEACHER, reason=Reason.GUARD_UNAVAILABLE, escalation=None
    )

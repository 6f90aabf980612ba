"""Coverage scorers: how much of the teacher's content the student's answer carries.

Asymmetric on purpose: a weak student omits (a step, a fact, the second half of the task)
far more often than it adds, and an answer that says more than the teacher is not worse.
"""

from __future__ import annotations

import re

_SPLIT = re.compile(r"(?<=[.!?:])\s+|\n+")
_MARKER = re.compile(r"^\s*(?:#{1,6}\s+|[-*•>]\s+|\d+[.)]\s+|\*\*)")
_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
MAX_SENTENCES = 64
STOP_WORDS = frozenset(
    re.findall(
        r"\w+",
        "a about after all also am an and any are as at be because been before being both but by"
        " can could did do does doing done during each either etc even every few for from had has"
        " have having he her here hers him his how however i if in into is it its itself just let"
        " may me might more most much must my no nor not now of off on once one only or other our"
        " ours out over own per rather same shall she should so some such than that the their"
        " them then there these they this those through thus to too under until up upon us use"
        " used using very via was we were what when where whether which while who whom whose why"
        " will with within without would yet you your yours",
    )
)


def sentences(text: str, limit: int = MAX_SENTENCES) -> list[str]:
    """The text's sentences and lines (list and heading markers dropped), at most `limit`;
    fragments with fewer than two words are left out."""
    found = []
    for piece in _SPLIT.split(text):
        piece = _MARKER.sub("", piece).strip()
        if len(_WORD.findall(piece.lower())) >= 2:
            found.append(piece)
            if len(found) == limit:
                break
    return found


def content_words(text: str) -> set[str]:
    """Lower-case words and numbers, stop words left out."""
    return {w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS}


def coverage_agreement(a: str, b: str, request: str) -> float | None:
    """Share of b's content words (those not already in the request) that a also uses."""
    theirs = content_words(b) - content_words(request)
    return len(theirs & content_words(a)) / len(theirs) if theirs else None


def length_agreement(a: str, b: str, request: str) -> float | None:
    """a's length as a share of b's (whitespace-separated tokens), capped at 1: only a shorter
    a disagrees."""
    la, lb = len(a.split()), len(b.split())
    return min(1.0, la / lb) if lb else None

"""Did the student's answer finish, and stay out of loops? Truncation, empty answers, repetition.

Both scorers compare the student (a) with the teacher (b): an answer that stops mid-sentence
or repeats itself is only held against the student when the teacher's does not.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")
_CLEAN_END = re.compile(r"""[.!?)\]}"'`*:;>|…。]$""")
NGRAM = 3


def finished(text: str) -> bool:
    """Not empty, no code fence left open, and the last line ends like a sentence or a block
    (or is a short line: a list item, a signature, a line of a poem)."""
    stripped = text.rstrip()
    if not stripped or stripped.count("```") % 2:
        return False
    last_line = stripped.rsplit("\n", 1)[-1].strip()
    return bool(_CLEAN_END.search(last_line)) or len(_WORD.findall(last_line.lower())) <= 6


def completion_agreement(a: str, b: str, request: str) -> float | None:
    """0 when a is empty or cut off and b is not; else 1."""
    if not a.strip():
        return 0.0 if b.strip() else 1.0
    return 0.0 if finished(b) and not finished(a) else 1.0


def distinct_ngrams(text: str, n: int = NGRAM) -> float:
    """Share of the text's word n-grams that are distinct (1: no repetition; loops -> 0)."""
    words = _WORD.findall(text.lower())
    total = len(words) - n + 1
    grams = set(zip(*(words[i:] for i in range(n)), strict=False))  # shifted copies
    return len(grams) / total if total > 0 else 1.0


def repetition_agreement(a: str, b: str, request: str) -> float | None:
    """1 minus how much more a repeats itself than b (share of repeated word 3-grams)."""
    return 1.0 - max(0.0, distinct_ngrams(b) - distinct_ngrams(a))

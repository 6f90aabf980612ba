"""Main's scorers frozen at commit 23dfa58 (verbatim): the "before" of bench/gap_validity.py.

Pure scorers: how much two answers to one request agree, on the surface or in judgment.

Each scorer maps (served, shadow, request text) to an agreement in [0, 1] (1: the same),
or None when it does not apply (no final answer in either, no JSON in either, ...).
The divergence of a pair is 1 minus the weighted mean agreement of the scorers that apply.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from router.escalation import hedges, refuses


class Tag(StrEnum):
    SURFACE = "surface"
    JUDGMENT = "judgment"


ScoreFn = Callable[[str, str, str], float | None]


@dataclass(frozen=True)
class Scorer:
    name: str
    tag: Tag
    fn: ScoreFn


_WORD = re.compile(r"[a-z0-9]+")


def token_f1(a: str, b: str, request: str) -> float | None:
    """F1 of the two answers' word multisets."""
    wa, wb = Counter(_WORD.findall(a.lower())), Counter(_WORD.findall(b.lower()))
    if not wa and not wb:
        return 1.0
    common = sum((wa & wb).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(wa.values()), common / sum(wb.values())
    return 2 * precision * recall / (precision + recall)


def length_ratio(a: str, b: str, request: str) -> float | None:
    la, lb = len(_WORD.findall(a)), len(_WORD.findall(b))
    if max(la, lb) == 0:
        return 1.0
    return min(la, lb) / max(la, lb)


_FORMAT = {
    "code": re.compile(r"```"),
    "list": re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.MULTILINE),
    "heading": re.compile(r"^\s*(?:#{1,6}\s|\*\*[^*\n]+\*\*\s*$)", re.MULTILINE),
    "table": re.compile(r"^\s*\|.*\|\s*$", re.MULTILINE),
}


def format_agreement(a: str, b: str, request: str) -> float | None:
    """Share of layout features (code block, list, heading, table, JSON) both have or lack."""
    same = [bool(p.search(a)) == bool(p.search(b)) for p in _FORMAT.values()]
    same.append((_json_value(a) is not None) == (_json_value(b) is not None))
    return sum(same) / len(same)


def refusal_agreement(a: str, b: str, request: str) -> float | None:
    """1 when both answer or both decline (refuse or hedge); 0 when one does and the other not."""
    return float((refuses(a) or hedges(a)) == (refuses(b) or hedges(b)))


_CHOICE = re.compile(
    r"\b(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-E])\)?(?![\w])", re.IGNORECASE
)
_NUMBER = re.compile(r"(?<![\w.-])-?\d[\d,]*(?:\.\d+)?")  # not the 4 of "GPT-4"
_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def final_answer(text: str) -> str | None:
    """A multiple-choice letter, a leading yes/no, or the last number in the text."""
    if m := _CHOICE.search(text):
        return m.group(1).upper()
    if m := _YES_NO.search(text):
        return m.group(1).lower()
    numbers = _NUMBER.findall(text)
    if numbers:
        value = numbers[-1].replace(",", "")
        try:
            return repr(round(float(value), 6))
        except ValueError:
            return None
    return None


def final_answer_agreement(a: str, b: str, request: str) -> float | None:
    """Same final answer in the two conclusions; applies only when the request asks something.

    The answer is read from each text's conclusion (see `conclusion`), not from anywhere in
    the text: the last number of a long answer is as often a step or an aside as the result.
    """
    if not _asks(request):
        return None
    fa, fb = final_answer(conclusion(a)), final_answer(conclusion(b))
    if fa is None and fb is None:
        return None
    return float(fa == fb)


def conclusion_agreement(a: str, b: str, request: str) -> float | None:
    """Content-word F1 of the two conclusions: do both answers conclude the same thing?

    Catches answers that agree in words but conclude differently ("west" vs "east", "Cheryl"
    vs "Alice", "the tyre" vs "the car"), which whole-text overlap averages away.
    Applies only to closed questions answered in prose: both conclude in words, no code.
    """
    if not _asks(request) or "```" in a or "```" in b:  # code's conclusion is its code
        return None
    ca, cb = _content_words(conclusion(a)), _content_words(conclusion(b))
    if not ca or not cb:
        return None
    common = sum((ca & cb).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(ca.values()), common / sum(cb.values())
    return 2 * precision * recall / (precision + recall)


_ASKS = re.compile(  # a closed question: one answer to find, not an essay or a poem
    r"\d|\b(?:how many|how much|which|who|where|what is|what was|what's|yes or no|true or false"
    r"|solve|calculate|compute|find|determine)\b",
    re.IGNORECASE,
)
_BOXED = re.compile(r"\\boxed\{([^}]*)\}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CONCLUDES = re.compile(
    r"\b(?:therefore|thus|so|hence|in conclusion|in summary|the answer is|the result is)\b"
    r"|\b(?:answer|is):",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"\s*(?:\d+[.)]|[-*•])(?:\s|$)")
_STOP_WORDS = frozenset(
    re.findall(
        r"\w+",
        "the a an of to in is are was were be and or that this it for on with as by at from so"
        " therefore thus hence answer final i we you he she they his her their its my our your",
    )
)
_CONTENT_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def _asks(request: str) -> bool:
    return bool(_ASKS.search(request))


def conclusion(text: str) -> str:
    """The sentence an answer concludes with: a \\boxed{} value, else the last sentence with a
    concluding cue (therefore, so, the answer is, ...), else the last sentence."""
    if m := _BOXED.search(text):
        return m.group(1)
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if any(c.isalnum() for c in s)]
    cued = [i for i, s in enumerate(sentences) if _CONCLUDES.search(s)]
    if not cued:
        return sentences[-1] if sentences else ""
    last = cued[-1]
    follows = sentences[last + 1] if last + 1 < len(sentences) else ""
    if sentences[last].rstrip().endswith(":") and follows and not _LIST_ITEM.match(follows):
        return sentences[last] + " " + follows  # "So the area is:" + "\\( 3 \\)"
    return sentences[last]


def _content_words(text: str) -> Counter[str]:
    words = _CONTENT_WORD.findall(text.lower().replace(",", ""))
    return Counter(w for w in words if w not in _STOP_WORDS)


def structured_agreement(a: str, b: str, request: str) -> float | None:
    """JSON answers: both valid and the share of top-level fields with equal values."""
    ja, jb = _json_value(a), _json_value(b)
    if ja is None and jb is None:
        return None
    if ja is None or jb is None:
        return 0.0
    if isinstance(ja, dict) and isinstance(jb, dict):
        keys = set(ja) | set(jb)
        return sum(ja.get(k) == jb.get(k) for k in keys) / len(keys) if keys else 1.0
    return float(ja == jb)


_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _json_value(text: str) -> object | None:
    candidates = [text.strip()]
    if m := _FENCED.search(text):
        candidates.append(m.group(1).strip())
    for candidate in candidates:
        if candidate[:1] in ("{", "["):
            try:
                value: object = json.loads(candidate)
            except ValueError:
                continue
            return value
    return None


SCORERS: Mapping[str, Scorer] = {
    s.name: s
    for s in (
        Scorer("token_f1", Tag.SURFACE, token_f1),
        Scorer("length_ratio", Tag.SURFACE, length_ratio),
        Scorer("format", Tag.SURFACE, format_agreement),
        Scorer("refusal", Tag.JUDGMENT, refusal_agreement),
        Scorer("final_answer", Tag.JUDGMENT, final_answer_agreement),
        Scorer("conclusion", Tag.JUDGMENT, conclusion_agreement),
        Scorer("structured", Tag.JUDGMENT, structured_agreement),
    )
}

# Scorers that are not pure functions of the text: `semantic` needs a model loaded at start
# (monitors/semantic.py), `llm_judge` is the teacher's verdict, asked by the shadow worker
# (monitors/judge.py). They count only when present; their weights are set like the others.
EXTRA_TAGS: Mapping[str, Tag] = {"semantic": Tag.SURFACE, "llm_judge": Tag.JUDGMENT}
KNOWN_SCORERS = frozenset(SCORERS) | frozenset(EXTRA_TAGS)

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "token_f1": 0.5,
    "length_ratio": 0.25,
    "format": 0.25,
    "refusal": 1.0,
    "final_answer": 1.0,
    "conclusion": 1.0,
    "structured": 1.0,
    "semantic": 0.5,
    "llm_judge": 1.0,
}


@dataclass(frozen=True)
class PairScores:
    """Every applicable scorer's agreement, and what the monitor aggregates."""

    scores: Mapping[str, float]
    divergence: float  # 1 - weighted mean agreement
    surface: float  # mean agreement of the surface scorers
    judgment: float | None  # min agreement of the judgment scorers that apply

    def judgment_disagrees(self) -> bool:
        return self.judgment is not None and self.judgment < 0.5


def score_pair(
    served: str,
    shadow: str,
    request: str,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    scorers: Mapping[str, Scorer] = SCORERS,
    given: Mapping[str, float] | None = None,
) -> PairScores:
    """Score a pair with `scorers`, plus `given` agreements computed elsewhere (llm_judge)."""
    scores = {}
    for name, scorer in scorers.items():
        value = scorer.fn(served, shadow, request)
        if value is not None:
            scores[name] = min(1.0, max(0.0, value))
    for name, value in (given or {}).items():
        scores[name] = min(1.0, max(0.0, value))
    tags = {**EXTRA_TAGS, **{n: s.tag for n, s in scorers.items()}}
    weighted = [(weights.get(n, 0.0), v) for n, v in scores.items() if weights.get(n, 0.0) > 0]
    total = sum(w for w, _ in weighted)
    divergence = 1.0 - sum(w * v for w, v in weighted) / total if total else 0.0
    surface = [v for n, v in scores.items() if tags[n] is Tag.SURFACE]
    judgment = [v for n, v in scores.items() if tags[n] is Tag.JUDGMENT]
    return PairScores(
        scores,
        divergence,
        sum(surface) / len(surface) if surface else 1.0,
        min(judgment) if judgment else None,
    )

"""Pure scorers: how much two answers to one request agree, on the surface or in judgment.

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

from monitors.code_check import code_parses_agreement, signature_agreement
from monitors.completeness import completion_agreement, repetition_agreement
from monitors.coverage import coverage_agreement, length_agreement
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
_NUMBER = re.compile(r"(?<![\w.-])-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")  # not the 4 of "GPT-4"
_YES_NO = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        re.findall(
            r"\w+",
            "zero one two three four five six seven eight nine ten eleven twelve thirteen"
            " fourteen fifteen sixteen seventeen eighteen nineteen twenty",
        )
    )
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def numbers(text: str) -> list[str]:
    """The numbers in the text, normalised: "1,000" -> "1000.0", "3/4" -> "0.75", "two" -> "2.0"."""
    text = _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()], text)
    found = []
    for raw in _NUMBER.findall(text):
        top, _, bottom = raw.replace(",", "").partition("/")
        try:
            value = float(top) / float(bottom) if bottom else float(top)
        except (ValueError, ZeroDivisionError):
            continue
        found.append(repr(round(value, 4)))
    return found


def final_answer(text: str, request: str = "") -> str | None:
    """A \\boxed{} value, else from the conclusion: a multiple-choice letter, a leading yes/no,
    or its last number that the request does not already give ("|x + 10| < 5" -> not 10 or 5)."""
    concluded = m.group(1) if (m := _BOXED.search(text)) else conclusion(text)
    if m := _CHOICE.search(concluded):
        return m.group(1).upper()
    if m := _YES_NO.search(concluded):
        return m.group(1).lower()
    given = set(numbers(request))
    new = [n for n in numbers(concluded) if n not in given]
    return new[-1] if new else None


def final_answer_agreement(a: str, b: str, request: str) -> float | None:
    """Same final answer in the two conclusions; applies only when the request asks something
    and neither answer is code (the last number of code is no answer).

    The answer is read from each text's conclusion (see `conclusion`), not from anywhere in
    the text: the last number of a long answer is as often a step or an aside as the result.
    """
    if not _asks(request) or "```" in a or "```" in b:
        return None
    fa, fb = final_answer(a, request), final_answer(b, request)
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
_ALNUM = re.compile(r"[^\W_]")
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
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if _ALNUM.search(s)]
    last = next((i for i in reversed(range(len(sentences))) if _CONCLUDES.search(sentences[i])), -1)
    if last < 0:
        return sentences[-1] if sentences else ""
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
        Scorer("coverage", Tag.SURFACE, coverage_agreement),
        Scorer("length_share", Tag.SURFACE, length_agreement),
        Scorer("refusal", Tag.JUDGMENT, refusal_agreement),
        Scorer("final_answer", Tag.JUDGMENT, final_answer_agreement),
        Scorer("conclusion", Tag.JUDGMENT, conclusion_agreement),
        Scorer("structured", Tag.JUDGMENT, structured_agreement),
        Scorer("completion", Tag.JUDGMENT, completion_agreement),
        Scorer("repetition", Tag.JUDGMENT, repetition_agreement),
        Scorer("code_parses", Tag.JUDGMENT, code_parses_agreement),
        Scorer("code_signature", Tag.JUDGMENT, signature_agreement),
    )
}

# Scorers that are not pure functions of the text: `semantic` needs a model loaded at start
# (monitors/semantic.py), `llm_judge` is the teacher's verdict, asked by the shadow worker
# (monitors/judge.py). They count only when present; their weights are set like the others.
EXTRA_TAGS: Mapping[str, Tag] = {"semantic": Tag.SURFACE, "llm_judge": Tag.JUDGMENT}
KNOWN_SCORERS = frozenset(SCORERS) | frozenset(EXTRA_TAGS)

# Fitted by monitors/weights_fit.py on 3,360 GPT-4-graded MT-Bench answers against two
# teachers (bench/data/mt_bench_judged; reproduced by `bench/gap_validity.py --fit` and
# checked by tests/monitors/test_shipped_weights.py). Validity under question-grouped 10-fold
# CV: Spearman(divergence, -grade) 0.52 per fold, from 0.32 with the weights before; see
# bench/gap_validity.py. A scorer with weight 0 is not run and counts nowhere (give it a
# weight to turn it on): conclusion, code_parses and code_signature add nothing to the fit;
# refusal is 0 because MT-Bench has almost no real refusals (the decline detector fires there
# on hedges), which says nothing about other traffic. Not fitted: llm_judge (no data) and
# semantic (MiniLM, off by default: any weight in 0-0.3 moves the dev-set Spearman < 0.005).
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "token_f1": 0.21,
    "length_ratio": 0.21,
    "format": 0.42,
    "coverage": 0.67,
    "length_share": 0.14,
    "refusal": 0.0,
    "final_answer": 0.67,
    "conclusion": 0.0,
    "structured": 0.22,
    "completion": 0.1,
    "repetition": 1.0,
    "code_parses": 0.0,
    "code_signature": 0.0,
    "semantic": 0.1,
    "llm_judge": 1.0,
}


@dataclass(frozen=True)
class PairScores:
    """Every applicable scorer's agreement, and what the monitor aggregates."""

    scores: Mapping[str, float]
    divergence: float  # 1 - weighted mean agreement
    surface: float  # mean agreement of the surface scorers that count (weight > 0)
    judgment: float | None  # min agreement of the judgment scorers that apply and count

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
    """Score a pair with the `scorers` that have a weight (the others are not run), plus
    `given` agreements computed elsewhere (llm_judge)."""
    scores = {}
    for name, scorer in scorers.items():
        if weights.get(name, 0.0) <= 0:
            continue
        value = scorer.fn(served, shadow, request)
        if value is not None:
            scores[name] = min(1.0, max(0.0, value))
    for name, value in (given or {}).items():
        scores[name] = min(1.0, max(0.0, value))
    tags = {**EXTRA_TAGS, **{n: s.tag for n, s in scorers.items()}}
    weighted = [(weights.get(n, 0.0), v) for n, v in scores.items() if weights.get(n, 0.0) > 0]
    total = sum(w for w, _ in weighted)
    divergence = 1.0 - sum(w * v for w, v in weighted) / total if total else 0.0
    counted = {n: v for n, v in scores.items() if weights.get(n, 0.0) > 0}
    surface = [v for n, v in counted.items() if tags[n] is Tag.SURFACE]
    judgment = [v for n, v in counted.items() if tags[n] is Tag.JUDGMENT]
    return PairScores(
        scores,
        divergence,
        sum(surface) / len(surface) if surface else 1.0,
        min(judgment) if judgment else None,
    )

"""Judged pairs, the input of `calibrate-gap`: parse the JSONL rows, score them, fit the weights.

One JSON object per line (blank lines skipped):

    {"request": "...", "student": "...", "teacher": "...", "grade": 7,
     "group": "q81", "category": "writing"}

- request: the user's text as the gateway sees it (chat: the user turns joined by newlines).
- student, teacher: the two answers to it.
- grade: a number, higher is better: how good the student's answer is (e.g. a 1-10 judge
  grade). Only its order matters (the fit maximises a rank correlation).
- group (optional, string or number): pairs that share it are kept on one side of every
  cross-validation split; give every answer to one question the same group. Default: the
  request text.
- category (optional, string): for per-category reports; not used by the fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitors.scorers import Scorer
from monitors.weights_fit import Fit, GradedPair, fit_weights


@dataclass(frozen=True)
class JudgedPair:
    request: str
    student: str
    teacher: str
    grade: float
    group: str
    category: str | None = None


def parse_row(row: Any) -> JudgedPair:
    """One decoded JSON row; ValueError saying what is wrong."""
    if not isinstance(row, dict):
        raise ValueError("a row must be a JSON object")
    for key in ("request", "student", "teacher"):
        if not isinstance(row.get(key), str):
            raise ValueError(f"{key!r} must be a string")
    grade = row.get("grade")
    if isinstance(grade, bool) or not isinstance(grade, int | float) or not math.isfinite(grade):
        raise ValueError("'grade' must be a finite number")
    group = row.get("group", row["request"])
    if isinstance(group, bool) or not isinstance(group, str | int):
        raise ValueError("'group' must be a string or an integer")
    category = row.get("category")
    if category is not None and not isinstance(category, str):
        raise ValueError("'category' must be a string")
    return JudgedPair(
        row["request"], row["student"], row["teacher"], float(grade), str(group), category
    )


def parse_judged(lines: Iterable[str]) -> list[JudgedPair]:
    """Every row of a judged JSONL file; ValueError naming the first bad line."""
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            pairs.append(parse_row(json.loads(line)))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"line {number}: {exc}") from exc
    return pairs


def agreements(pair: JudgedPair, scorers: Mapping[str, Scorer]) -> dict[str, float | None]:
    """Each scorer's agreement for the pair (None where it does not apply)."""
    return {n: s.fn(pair.student, pair.teacher, pair.request) for n, s in scorers.items()}


def graded_pairs(pairs: Sequence[JudgedPair], scorers: Mapping[str, Scorer]) -> list[GradedPair]:
    return [GradedPair(agreements(p, scorers), p.grade, p.group) for p in pairs]


def calibrate(
    pairs: Sequence[JudgedPair],
    scorers: Mapping[str, Scorer],
    *,
    folds: int = 10,
    seed: int = 0,
    start: Mapping[str, float] | None = None,
) -> Fit:
    """Weights for `scorers` fitted on the judged pairs, with their grouped-CV validity."""
    return fit_weights(
        graded_pairs(pairs, scorers), list(scorers), folds=folds, seed=seed, start=start
    )

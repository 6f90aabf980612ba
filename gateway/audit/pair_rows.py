"""pairs.jsonl of an audit: one row per scored pair, to sort and read (e.g. the worst first).

Each row: id, turn (0 for the first, as in report.json), category, the three texts, the
divergence and what the windows aggregate (surface, judgment, illusion, discriminated), and
every scorer's agreement: `agreements` holds the scorers that count (weight > 0; the
divergence is 1 minus their weighted mean), `not_counted` the weight-0 ones, computed only
for reading. None (null) where a scorer does not apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from monitors.audit import AuditResult, ScoredPair

DIGITS = 4  # as report.json


def row(s: ScoredPair, counted: Iterable[str]) -> dict[str, Any]:
    """The row of one pair; `counted`: the scorers with a weight (absent from the pair's
    scores where they did not apply)."""
    scores = s.scores
    return {
        "id": s.pair.id,
        "turn": s.pair.turn,
        "category": s.pair.category,
        "divergence": _round(scores.divergence),
        "surface": _round(scores.surface),
        "judgment": _round(scores.judgment),
        "illusion": s.illusion,
        "discriminated": s.discriminated,
        "agreements": {n: _round(scores.scores.get(n)) for n in counted},
        "not_counted": {n: _round(v) for n, v in s.uncounted.items()},
        "request": s.pair.request,
        "student": s.pair.student,
        "teacher": s.pair.teacher,
    }


def jsonl(result: AuditResult) -> str:
    """The file's text: one row per pair, in the audit's order."""
    return "".join(
        json.dumps(row(s, result.counted), ensure_ascii=False) + "\n" for s in result.pairs
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)

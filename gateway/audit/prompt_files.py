"""Reads prompt files for route-eval and calibrate: CSV or JSONL, optional label and category."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TEXT_KEYS = ("prompt", "text", "question", "turns")
RISKY_LABELS = frozenset({"unsafe", "harmful", "high", "risky", "1", "true"})
BENIGN_LABELS = frozenset({"safe", "benign", "low", "0", "false"})


@dataclass(frozen=True)
class PromptRow:
    text: str
    risky: bool | None  # from the label column; None when unlabeled
    category: str | None  # the file's own category column, if any


@dataclass(frozen=True)
class Conversation:
    """A prompt with all its user turns (MT-Bench has two), for the audit."""

    id: str
    turns: list[str]
    category: str | None


class PromptFileError(Exception):
    pass


def read(path: Path) -> list[PromptRow]:
    """CSV needs a header with `prompt` (or text/question); JSONL objects the same keys,
    or MT-Bench's `turns` (the first turn is used). Labels: safe/unsafe and the like."""
    return [_row(path, n, r) for n, r in enumerate(_records(path), 1)]


def read_conversations(path: Path) -> list[Conversation]:
    """Like `read`, keeping every turn; ids from `question_id` or `id`, else the row number."""
    out = []
    for n, row in enumerate(_records(path), 1):
        first = _row(path, n, row)
        key = next(k for k in _TEXT_KEYS if row.get(k))
        turns = [str(t) for t in row[key]] if isinstance(row[key], list) else [first.text]
        ident = row.get("question_id", row.get("id"))
        out.append(
            Conversation(str(ident if ident not in (None, "") else n), turns, first.category)
        )
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise PromptFileError(f"{path}: ids are not unique")
    return out


def _records(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptFileError(f"{path}: cannot read: {exc}") from exc
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = [
            _json_line(path, n, line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()
        ]
    else:
        rows = list(csv.DictReader(raw.splitlines()))
    if not rows:
        raise PromptFileError(f"{path}: no prompts")
    return rows


def _json_line(path: Path, n: int, line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PromptFileError(f"{path}:{n}: not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise PromptFileError(f"{path}:{n}: each line must be a JSON object")
    return value


def _row(path: Path, n: int, row: dict[str, Any]) -> PromptRow:
    key = next((k for k in _TEXT_KEYS if row.get(k)), None)
    if key is None:
        raise PromptFileError(f"{path}: row {n} has none of {', '.join(_TEXT_KEYS)}")
    value = row[key]
    text = str(value[0]) if isinstance(value, list) else str(value)
    label = str(row.get("label") or "").strip().lower()
    risky = True if label in RISKY_LABELS else False if label in BENIGN_LABELS else None
    category = row.get("category")
    return PromptRow(text, risky, str(category) if category else None)

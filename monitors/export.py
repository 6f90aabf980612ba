"""Pair records where the student diverged become a fine-tuning file of teacher answers, with
a provenance sidecar that says, line for line, where each example came from.

Why a sidecar: OpenAI's chat fine-tuning file takes one object per line with `messages`
(and `tools`, `parallel_tool_calls`, the deprecated `functions`): the OpenAI API spec's
per-line schema (FineTuneChatRequestInput) has no metadata field, and a key outside it can
fail the file's validation. So the training file holds only what the format accepts, and
the sidecar (`train.provenance.jsonl` beside `train.jsonl`) holds one object per training
line, `line` being that line's 1-based number.

A provenance row marks a teacher answer gathered by shadowing (`served_by: student`: the
user saw the student's answer, never this one) with `teacher_answer: "shadow"`, and one the
user was served with `teacher_answer: "served"`. Fields a pair record does not carry (records
written before they were added) are null and listed in `missing`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVED_BY = ("student", "teacher")
# copied from the record as they are (null where it lacks them)
COPIED = (
    "request_id", "job_id", "time", "model", "category", "endpoint", "served_by", "reason",
    "escalated", "config_sha256", "student_model", "teacher_model", "divergence", "surface",
    "judgment", "judgment_flip", "illusion", "discriminator_correct", "scores", "truncated",
    "student_answer",
)  # fmt: skip


@dataclass(frozen=True)
class SourcedRecord:
    """A pair record and where it was read (file, 1-based line)."""

    record: Mapping[str, Any]
    file: str
    line: int


@dataclass(frozen=True)
class ExportFilter:
    """Which records become examples: all conditions hold."""

    min_divergence: float = 0.3  # or a judgment scorer disagreed (judgment_flip)
    served_by: str | None = None  # "student" | "teacher"; None: either (and unknown)
    categories: frozenset[str] = field(default_factory=frozenset)  # empty: every category

    def keeps(self, record: Mapping[str, Any]) -> bool:
        diverged = _number(record.get("divergence")) >= self.min_divergence
        if not (diverged or record.get("judgment_flip") is True):
            return False
        if self.served_by is not None and record.get("served_by") != self.served_by:
            return False
        return not self.categories or record.get("category") in self.categories


@dataclass(frozen=True)
class Example:
    row: dict[str, Any]  # the training file's line
    provenance: dict[str, Any]  # the sidecar's line


def read_records(paths: Iterable[Path]) -> Iterator[SourcedRecord]:
    """Every record of the files, in order; ValueError naming the file and line of a bad one."""
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
                if not isinstance(record, dict):
                    raise ValueError(f"{path}:{number}: a pair record must be a JSON object")
                yield SourcedRecord(record, str(path), number)


def training_row(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The request and the teacher's answer in OpenAI's fine-tuning shape; None if there is
    no teacher answer or no request to pair it with.

    Chat requests give `{"messages": [...]}`; legacy completions `{"prompt", "completion"}`
    (the shape of OpenAI's legacy completion models' fine-tuning; chat models take only
    `messages`).
    """
    request = record.get("request")
    teacher = record.get("teacher_answer")
    if not isinstance(request, dict) or not isinstance(teacher, str) or not teacher:
        return None
    if isinstance(request.get("messages"), list):
        messages = [m for m in request["messages"] if isinstance(m, dict)]
        return {"messages": [*messages, {"role": "assistant", "content": teacher}]}
    if isinstance(request.get("prompt"), str):
        return {"prompt": request["prompt"], "completion": teacher}
    return None


def provenance(sourced: SourcedRecord, line: int) -> dict[str, Any]:
    """Where the training file's `line` came from (see the module docstring)."""
    record = sourced.record
    served_by = record.get("served_by")
    known = served_by in SERVED_BY
    return {
        "line": line,
        "source": {"file": sourced.file, "line": sourced.line},
        **{key: record.get(key) for key in COPIED},
        "shadowed": ("teacher" if served_by == "student" else "student") if known else None,
        "teacher_answer": ("shadow" if served_by == "student" else "served") if known else None,
        "missing": [key for key in COPIED if key not in record],
    }


def examples(records: Iterable[SourcedRecord], keep: ExportFilter) -> Iterator[Example]:
    """One example per kept record with a teacher answer, numbered from line 1."""
    line = 0
    for sourced in records:
        if not keep.keeps(sourced.record):
            continue
        row = training_row(sourced.record)
        if row is None:
            continue
        line += 1
        yield Example(row, provenance(sourced, line))


def sidecar_path(out: Path) -> Path:
    """`train.jsonl` -> `train.provenance.jsonl` (any other name: `+ .provenance.jsonl`)."""
    stem = out.name.removesuffix(".jsonl")
    return out.with_name(f"{stem}.provenance.jsonl")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)

"""The export's pure parts: which records it keeps, the training row, the provenance row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitors.export import (
    COPIED,
    ExportFilter,
    SourcedRecord,
    examples,
    provenance,
    sidecar_path,
    training_row,
)

CHAT = {"messages": [{"role": "user", "content": "2+2?"}]}


def record(**fields: Any) -> dict[str, Any]:
    base = {"request": CHAT, "teacher_answer": "4", "student_answer": "5", "divergence": 0.5,
            "judgment_flip": False, "served_by": "student", "category": "math"}  # fmt: skip
    return {**base, **fields}


@pytest.mark.parametrize(
    ("keep", "fields", "kept"),
    [
        (ExportFilter(), {}, True),
        (ExportFilter(), {"divergence": 0.29}, False),
        (ExportFilter(), {"divergence": 0.3}, True),
        (ExportFilter(), {"divergence": 0.1, "judgment_flip": True}, True),  # judgment disagreed
        (ExportFilter(), {"divergence": "high"}, False),  # not a number: not diverging
        (ExportFilter(min_divergence=0.6), {}, False),
        (ExportFilter(min_divergence=0.0), {"divergence": 0.0}, True),
        (ExportFilter(served_by="student"), {}, True),
        (ExportFilter(served_by="teacher"), {}, False),
        (ExportFilter(served_by="student"), {"served_by": None}, False),  # unknown: not kept
        (ExportFilter(), {"served_by": None}, True),
        (ExportFilter(categories=frozenset({"math", "code"})), {}, True),
        (ExportFilter(categories=frozenset({"code"})), {}, False),
        (ExportFilter(categories=frozenset({"code"})), {"category": None}, False),
    ],
)
def test_the_filter(keep: ExportFilter, fields: dict[str, Any], kept: bool) -> None:
    assert keep.keeps(record(**fields)) is kept


@pytest.mark.parametrize(
    ("fields", "row"),
    [
        ({}, {"messages": [*CHAT["messages"], {"role": "assistant", "content": "4"}]}),
        ({"request": {"prompt": "def f("}}, {"prompt": "def f(", "completion": "4"}),
        ({"teacher_answer": ""}, None),
        ({"teacher_answer": None}, None),
        ({"request": {}}, None),
        ({"request": "2+2?"}, None),
    ],
)
def test_the_training_row(fields: dict[str, Any], row: dict[str, Any] | None) -> None:
    assert training_row(record(**fields)) == row


@pytest.mark.parametrize(
    ("served_by", "shadowed", "teacher_answer"),
    [("student", "teacher", "shadow"), ("teacher", "student", "served"), (None, None, None)],
)
def test_provenance_marks_who_served_and_where_the_teacher_answer_came_from(
    served_by: str | None, shadowed: str | None, teacher_answer: str | None
) -> None:
    got = provenance(SourcedRecord(record(served_by=served_by), "pairs.jsonl", 7), 3)
    assert got["line"] == 3 and got["source"] == {"file": "pairs.jsonl", "line": 7}
    assert (got["served_by"], got["shadowed"]) == (served_by, shadowed)
    assert got["teacher_answer"] == teacher_answer
    assert got["divergence"] == 0.5 and got["student_answer"] == "5"


def test_fields_a_record_lacks_are_null_and_listed() -> None:
    got = provenance(SourcedRecord({"divergence": 0.4, "served_by": "teacher"}, "f", 1), 1)
    assert got["reason"] is None and got["config_sha256"] is None and got["scores"] is None
    assert got["missing"] == [k for k in COPIED if k not in ("divergence", "served_by")]
    full = provenance(SourcedRecord({k: 1 for k in COPIED}, "f", 1), 1)
    assert full["missing"] == [] and full["reason"] == 1 and full["config_sha256"] == 1


def test_examples_are_numbered_in_the_training_files_order() -> None:
    records = [
        SourcedRecord(record(teacher_answer="a"), "f", 1),
        SourcedRecord(record(divergence=0.0), "f", 2),  # not kept
        SourcedRecord(record(teacher_answer=""), "f", 3),  # nothing to train on
        SourcedRecord(record(teacher_answer="b"), "f", 4),
    ]
    got = list(examples(records, ExportFilter()))
    assert [(e.provenance["line"], e.provenance["source"]["line"]) for e in got] == [(1, 1), (2, 4)]
    assert [e.row["messages"][-1]["content"] for e in got] == ["a", "b"]


@pytest.mark.parametrize(
    ("out", "sidecar"),
    [("d/train.jsonl", "d/train.provenance.jsonl"), ("train", "train.provenance.jsonl")],
)
def test_the_sidecar_sits_beside_the_training_file(out: str, sidecar: str) -> None:
    assert sidecar_path(Path(out)) == Path(sidecar)

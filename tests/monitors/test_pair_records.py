"""Pair records: redaction, size-based rotation, and the fine-tuning export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.commands.cli import main
from monitors.pair_records import PairRecorder


def test_records_are_redacted_and_rotated(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    recorder = PairRecorder(path, max_bytes=400, backups=2)
    for i in range(12):
        recorder.write({"i": i, "request": {"messages": [{"role": "user", "content": "me@x.org"}]},
                        "pad": "x" * 60})  # fmt: skip
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["pairs.jsonl", "pairs.jsonl.1", "pairs.jsonl.2"]
    assert all(p.stat().st_size <= 400 for p in tmp_path.iterdir())
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[-1]["i"] == 11
    assert lines[-1]["request"]["messages"][0]["content"] == "[email]"
    kept = sum(len(p.read_text().splitlines()) for p in tmp_path.iterdir())
    assert kept < 12  # the oldest fell off after two backups


def test_export_openai_finetune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "pairs.jsonl"
    rows = [
        {"request": {"messages": [{"role": "user", "content": "2+2?"}]}, "divergence": 0.6,
         "judgment_flip": True, "teacher_answer": "4", "student_answer": "5"},
        {"request": {"messages": [{"role": "user", "content": "hi"}]}, "divergence": 0.05,
         "judgment_flip": False, "teacher_answer": "Hello!", "student_answer": "Hello!"},
        {"request": {"prompt": "def f("}, "divergence": 0.4, "judgment_flip": False,
         "teacher_answer": "x): pass", "student_answer": "??"},
    ]  # fmt: skip
    records.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "train.jsonl"
    assert main(["export", "--records", str(records), "--out", str(out)]) == 0
    examples = [json.loads(x) for x in out.read_text().splitlines()]
    assert examples == [
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
        {"prompt": "def f(", "completion": "x): pass"},
    ]
    assert "2 training examples" in capsys.readouterr().out
    assert main(["export", "--records", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 1

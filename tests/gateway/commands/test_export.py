"""`distillgate export` on pair records written by the real shadow path (Shadower with a
PairRecorder): the training file, its provenance sidecar, and the filters."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.commands.cli import main
from monitors.comparison import Comparison
from monitors.gap import GapMonitor
from monitors.metrics import ShadowMetrics
from monitors.pair_records import PairRecorder
from monitors.shadow import Shadower, ShadowSettings
from router.types import Target
from tests.fakes.clock import Clock
from tests.fakes.shadow import Models, job

RIGHT, WRONG = "3 spiders have 24 legs.", "3 spiders have 18 legs."
# (request_id, served_by, category, student's answer, teacher's answer)
PAIRS = [
    ("s-math", Target.STUDENT, "math", WRONG, RIGHT),  # diverges; the teacher answer: shadow
    ("t-math", Target.TEACHER, "math", WRONG, RIGHT),  # diverges; the user saw the teacher's
    ("s-code", Target.STUDENT, "code", WRONG, RIGHT),
    ("s-same", Target.STUDENT, "math", RIGHT, RIGHT),  # agrees: below any positive threshold
]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("records") / "pairs.jsonl"
    recorder = PairRecorder(path, max_bytes=10**6, backups=1)
    for request_id, served_by, category, student, teacher in PAIRS:
        models = Models({Target.STUDENT: student, Target.TEACHER: teacher})
        gap = GapMonitor(window_s=60, min_samples=2, confidence=0.95, max_gap={}, clock=Clock())
        shadower = Shadower(models, Comparison(gap), ShadowMetrics(CollectorRegistry()),
                            ShadowSettings(), Clock(), recorder)  # fmt: skip
        served = student if served_by is Target.STUDENT else teacher
        body = {"model": "assistant", "messages": [{"role": "user", "content": "Legs?"}]}
        asyncio.run(shadower.process(job(served_by, served, request_id=request_id,
                                         category=category, body=body, reason="policy",
                                         config_sha256="c0ffee")))  # fmt: skip
    assert len(path.read_text().splitlines()) == len(PAIRS)
    return path


def export(records: Path, out: Path, *flags: str) -> tuple[list[Any], list[Any]]:
    assert main(["export", "--records", str(records), "--out", str(out), *flags]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    sidecar = out.with_name(out.stem + ".provenance.jsonl")
    return rows, [json.loads(x) for x in sidecar.read_text().splitlines()]


def test_every_training_line_has_its_provenance(
    records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows, provenance = export(records, tmp_path / "train.jsonl")
    written = [json.loads(x) for x in records.read_text().splitlines()]
    assert len(rows) == len(provenance) == 3
    for number, (row, where) in enumerate(zip(rows, provenance, strict=True), 1):
        assert set(row) == {"messages"}  # only what OpenAI's chat fine-tuning format takes
        assert row["messages"][-1] == {"role": "assistant", "content": RIGHT}
        assert where["line"] == number and where["source"]["file"] == str(records)
        source = written[where["source"]["line"] - 1]
        for key in ("request_id", "served_by", "category", "divergence", "scores", "judgment"):
            assert where[key] == source[key]
        assert where["divergence"] >= 0.3 and where["scores"]["final_answer"] == 0.0
        assert (where["reason"], where["config_sha256"]) == ("policy", "c0ffee")
        assert where["escalated"] is False and where["job_id"] == source["job_id"]
        assert {"reason", "config_sha256"}.isdisjoint(where["missing"])
    marks = {w["request_id"]: (w["served_by"], w["shadowed"], w["teacher_answer"])
             for w in provenance}  # fmt: skip
    assert marks == {
        "s-math": ("student", "teacher", "shadow"),
        "t-math": ("teacher", "student", "served"),
        "s-code": ("student", "teacher", "shadow"),
    }
    out = capsys.readouterr().out
    assert "3 training examples" in out and "2 teacher answers were gathered by shadowing" in out


@pytest.mark.parametrize(
    ("flags", "kept"),
    [
        ([], ["s-math", "t-math", "s-code"]),
        (["--served-by", "student"], ["s-math", "s-code"]),
        (["--served-by", "teacher"], ["t-math"]),
        (["--category", "code"], ["s-code"]),
        (["--category", "code", "--category", "math"], ["s-math", "t-math", "s-code"]),
        (["--category", "math", "--served-by", "student"], ["s-math"]),
        (["--min-divergence", "0"], ["s-math", "t-math", "s-code", "s-same"]),
        (["--category", "writing"], []),
    ],
)
def test_filters(records: Path, tmp_path: Path, flags: list[str], kept: list[str]) -> None:
    rows, provenance = export(records, tmp_path / "train.jsonl", *flags)
    assert [w["request_id"] for w in provenance] == kept
    assert len(rows) == len(kept)


def test_the_sidecar_can_go_elsewhere_but_not_over_the_training_file(
    records: Path, tmp_path: Path
) -> None:
    out, sidecar = tmp_path / "train.jsonl", tmp_path / "meta" / "p.jsonl"
    sidecar.parent.mkdir()
    assert main(["export", "--records", str(records), "--out", str(out),
                 "--provenance", str(sidecar)]) == 0  # fmt: skip
    assert len(sidecar.read_text().splitlines()) == len(out.read_text().splitlines()) == 3
    assert main(["export", "--records", str(records), "--out", str(out),
                 "--provenance", str(out)]) == 2  # fmt: skip


def test_a_bad_record_names_its_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"divergence": 0.5}\n\n[1, 2]\n')
    assert main(["export", "--records", str(bad), "--out", str(tmp_path / "t.jsonl")]) == 1
    assert capsys.readouterr().err == f"export: {bad}:3: a pair record must be a JSON object\n"
    bad.write_text("{oops\n")
    assert main(["export", "--records", str(bad), "--out", str(tmp_path / "t.jsonl")]) == 1
    assert capsys.readouterr().err.startswith(f"export: {bad}:1: not JSON (")

"""`distillgate calibrate-gap`: weights fitted to judged pairs, their validity and the snippet,
on a synthetic file where one scorer decides the grade and on the MT-Bench dev set
(bench/data/mt_bench_judged, see its SOURCE.md)."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.commands import cli
from gateway.commands.calibrate_gap import calibrate_gap
from gateway.config.settings import MonitorConfig
from monitors.judged import parse_judged
from monitors.scorers import DEFAULT_WEIGHTS, KNOWN_SCORERS, Scorer, score_pair
from monitors.semantic import INSTALL_HINT, SemanticUnavailable
from tests.fakes.paths import ROOT

DEV_SET = ROOT / "bench" / "data" / "mt_bench_judged"
TEACHER = "claude-3-5-sonnet-20240620"
WORDS = [
    "river", "stone", "cloud", "market", "engine", "garden", "letter", "window", "silver",
    "orange", "tunnel", "planet", "harbor", "candle", "mirror", "forest", "bridge", "violin",
    "castle", "desert",
]  # fmt: skip


def _filler(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))) + "."


def refusal_graded(path: Path, questions: int = 40) -> Path:
    """Per question, one student that answers (graded 8) and one that refuses (graded 2); all
    the texts are random words, so only the refusal scorer can tell the two apart."""
    rng = random.Random(7)
    rows = []
    for q in range(questions):
        request = f"Tell me about item {q}."
        teacher = "Sure. " + _filler(rng)
        for student, grade in (
            ("Sure. " + _filler(rng), 8),
            ("I'm sorry, but I can't help with that. " + _filler(rng), 2),
        ):
            row = {"request": request, "student": student, "teacher": teacher, "grade": grade}
            rows.append({**row, "group": q})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def snippet_of(out: str) -> dict[str, Any]:
    """The YAML printed from the snippet's first comment line to the end."""
    start = out.index("# Fitted by")
    loaded: dict[str, Any] = yaml.safe_load(out[start:])
    return loaded


def test_the_scorer_that_decides_the_grade_gets_the_weight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = refusal_graded(tmp_path / "judged.jsonl")
    assert cli.main(["calibrate-gap", "--judged", str(path), "--folds", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: 80 pairs, 40 groups; scorers fitted: ")
    cv = float(out.split("5-fold grouped CV: ")[1].split()[0])
    assert cv > 0.7  # the default weights: ~0.25 (refusal is 0 there)
    weights = snippet_of(out)["monitor"]["weights"]
    assert set(weights) == KNOWN_SCORERS  # the whole map, zeros too
    assert all(w == round(w, 2) for w in weights.values())
    MonitorConfig(weights=weights)  # the snippet is a valid config section
    # With the printed weights, every refusing student diverges more than every answering
    # one; with the default weights (refusal 0) they are mixed.
    pairs = parse_judged(path.read_text().splitlines())
    for printed, separated in ((weights, True), (DEFAULT_WEIGHTS, False)):
        div = [score_pair(p.student, p.teacher, p.request, printed).divergence for p in pairs]
        refused = [d for d, p in zip(div, pairs, strict=True) if p.grade == 2]
        answered = [d for d, p in zip(div, pairs, strict=True) if p.grade == 8]
        assert (min(refused) > max(answered)) is separated
    assert weights["refusal"] > 0
    # what the file cannot inform keeps its default, and says so
    assert "    final_answer: 0.67  # default: never applies to these pairs\n" in out
    assert "    format: 0.42  # default: agrees the same on every pair\n" in out


def test_json_output_carries_the_validity_and_every_weight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = refusal_graded(tmp_path / "judged.jsonl")
    assert cli.main(["calibrate-gap", "--judged", str(path), "--folds", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["pairs"], doc["groups"], doc["folds"]) == (80, 40, 4)
    assert len(doc["fold_spearman"]) == 4 and doc["cv_spearman"] > 0.8
    assert doc["default_weights_spearman"] < 0.5 < doc["pooled_spearman"]  # refusal 0 there
    assert doc["defaults_do_better"] is False
    assert doc["categories"] == {}  # no pair names one
    assert set(doc["weights"]) == KNOWN_SCORERS and doc["weights"]["refusal"] > 0
    assert "refusal" in doc["fitted"] and "final_answer" not in doc["fitted"]
    assert doc["not_fitted"]["llm_judge"] == "a judged file has no judge verdicts"


def dev_set_file(path: Path, per_category: int = 2) -> Path:
    """Turn 1 of `per_category` design questions per category: 10 students graded by GPT-4,
    against claude-3-5-sonnet's answer (as bench/gap_validity.py builds its pairs)."""
    with gzip.open(DEV_SET / "judged_gpt-4_single.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [r for r in map(json.loads, f) if r["turn"] == 1]
    questions = [json.loads(line) for line in (DEV_SET / "question.jsonl").read_text().splitlines()]
    chosen: dict[int, dict[str, Any]] = {}
    for category in sorted({q["category"] for q in questions}):
        picked = [q for q in questions if q["category"] == category and q["question_id"] % 5]
        chosen.update((q["question_id"], q) for q in picked[:per_category])
    teacher = {r["question_id"]: r["answer"] for r in rows if r["model"] == TEACHER}
    out = [
        {"request": chosen[r["question_id"]]["turns"][0], "student": r["answer"],
         "teacher": teacher[r["question_id"]], "grade": r["score"], "group": r["question_id"],
         "category": r["category"]}
        for r in rows
        if r["question_id"] in chosen and r["model"] != TEACHER
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return path


def test_on_the_mt_bench_dev_set_the_fit_tracks_the_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = dev_set_file(tmp_path / "mt_bench.jsonl")
    assert cli.main(["calibrate-gap", "--judged", str(path), "--folds", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: 160 pairs, 16 groups; scorers fitted: ")
    cv = float(out.split("4-fold grouped CV: ")[1].split()[0])
    assert cv > 0.3  # bench/gap_validity.py: ~0.5 on the whole dev set
    for category in ("coding", "math", "writing"):
        assert f"\n{category:<14}    20 " in out
    weights = snippet_of(out)["monitor"]["weights"]
    assert weights["semantic"] == 0.1 and weights["llm_judge"] == 1  # not fitted: defaults
    assert "    semantic: 0.1  # default: not run (calibrate with --semantic" in out
    MonitorConfig(weights=weights)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (['{"request": "r", "student": "s", "teacher": "t", "grade": 1}', "{oops"],
         "line 2: Expecting property name"),
        (['{"request": "r", "student": "s", "teacher": "t", "grade": 1}', "",
          '{"request": "r", "student": "s", "teacher": "t", "grade": "good"}'],
         "line 3: 'grade' must be a finite number"),
        (['{"request": "r", "student": "s", "teacher": "t", "grade": 1}'] * 5,
         "5 pairs; calibrating needs at least 20"),
        ([json.dumps({"request": "r", "student": "s", "teacher": "t", "grade": i % 3,
                      "group": i % 4}) for i in range(30)],
         "4 groups, fewer than the 10 folds"),
        ([json.dumps({"request": f"r{i}", "student": "s", "teacher": "t", "grade": 5})
          for i in range(30)],
         "every pair has the same grade"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[str], message: str
) -> None:
    path = tmp_path / "judged.jsonl"
    path.write_text("\n".join(rows) + "\n")
    assert cli.main(["calibrate-gap", "--judged", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"calibrate-gap: {path}: {message}")
    assert captured.err.count("\n") == 1


def test_a_missing_file_and_too_few_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["calibrate-gap", "--judged", str(tmp_path / "nope.jsonl")]) == 1
    assert capsys.readouterr().err.startswith(f"calibrate-gap: cannot read {tmp_path}/nope.jsonl")
    assert cli.main(["calibrate-gap", "--judged", str(tmp_path / "x"), "--folds", "1"]) == 2


def test_semantic_without_the_package_says_what_to_install(tmp_path: Path) -> None:
    path = refusal_graded(tmp_path / "judged.jsonl")
    asked: list[bool] = []

    def missing(with_semantic: bool) -> dict[str, Scorer]:
        asked.append(with_semantic)
        raise SemanticUnavailable(INSTALL_HINT)

    err = io.StringIO()
    code = calibrate_gap(path, 5, True, io.StringIO(), err, as_json=False, load_scorers=missing)
    assert code == 1 and asked == [True]
    assert err.getvalue() == f"calibrate-gap: {path}: {INSTALL_HINT}\n"

"""`distillgate audit` on excerpts of the real MT-Bench answers (gateway/data/mt_bench,
see its SOURCE.md): numbers against an independent computation, the reports, calling
models through real sockets, resuming, retries."""

from __future__ import annotations

import io
import json
import math
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.cache import AuditError
from gateway.audit.run import AuditOptions, run
from gateway.commands import cli
from gateway.fake_vllm.script import Behavior, FakeState, ReplayBook, Script
from gateway.fake_vllm.server import create_fake_app
from monitors.scorers import DEFAULT_WEIGHTS, SCORERS, score_pair
from tests.fakes.paths import GATEWAY_DATA
from tests.fakes.servers import ServerThread

DATA = GATEWAY_DATA / "mt_bench"
CATEGORIES = ("math", "writing", "reasoning")
PER_CATEGORY = 5  # questions, two turns each: 10 pairs per category
T_975_DF9 = 2.2621571627982  # Student's t, 97.5% quantile, 9 degrees of freedom


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 5 questions of three categories and the three models' answers to them."""
    out = tmp_path_factory.mktemp("excerpt")
    chosen = []
    for category in CATEGORIES:
        chosen += [q for q in _lines("question.jsonl") if q["category"] == category][:PER_CATEGORY]
    ids = {q["question_id"] for q in chosen}
    (out / "question.jsonl").write_text("".join(json.dumps(q) + "\n" for q in chosen))
    for name in ("gpt-4o.jsonl", "llama-2-chat7b.jsonl"):
        rows = [r for r in _lines(name) if r["question_id"] in ids]
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "config.yaml").write_text(config_yaml("http://127.0.0.1:9", "http://127.0.0.1:9"))
    return out


def config_yaml(student: str, teacher: str) -> str:
    return f"""
models:
  assistant:
    student: {{base_url: "{student}/v1", model: student, timeout_s: 5}}
    teacher: {{base_url: "{teacher}/v1", model: teacher, timeout_s: 5}}
"""


def options(excerpt: Path, out: Path, **extra: Any) -> AuditOptions:
    values: dict[str, Any] = {
        "config_path": str(excerpt / "config.yaml"),
        "prompts": excerpt / "question.jsonl",
        "out": out,
        "min_samples": 5,
    }
    values.update(extra)
    return AuditOptions(**values)


def recorded(excerpt: Path) -> tuple[Path, Path]:
    return excerpt / "llama-2-chat7b.jsonl", excerpt / "gpt-4o.jsonl"


def test_report_numbers_match_an_independent_computation(excerpt: Path, tmp_path: Path) -> None:
    run(options(excerpt, tmp_path, answers=recorded(excerpt)), {}, io.StringIO())
    report = json.loads((tmp_path / "report.json").read_text())
    questions = _lines("question.jsonl")
    student = {r["question_id"]: r["choices"][0]["turns"] for r in _lines("llama-2-chat7b.jsonl")}
    teacher = {r["question_id"]: r["choices"][0]["turns"] for r in _lines("gpt-4o.jsonl")}
    assert report["pairs"] == 2 * PER_CATEGORY * len(CATEGORIES)
    for category in CATEGORIES:
        pairs = [
            score_pair(student[q["question_id"]][t], teacher[q["question_id"]][t], q["turns"][t])
            for q in [q for q in questions if q["category"] == category][:PER_CATEGORY]
            for t in (0, 1)
        ]
        div = [p.divergence for p in pairs]
        half = T_975_DF9 * statistics.stdev(div) / math.sqrt(len(div))
        illusions = sum(p.surface >= 0.5 and p.judgment is not None and p.judgment < 0.5
                        for p in pairs)  # fmt: skip
        judged = [p.judgment for p in pairs if p.judgment is not None]
        got = report["categories"][category]
        assert got["n"] == 10 and got["noise_floor"] is None  # nothing measured it
        assert got["gap"] == pytest.approx(statistics.mean(div), abs=1e-4)
        assert got["lower"] == pytest.approx(statistics.mean(div) - half, abs=1e-4)
        assert got["upper"] == pytest.approx(statistics.mean(div) + half, abs=1e-4)
        assert got["illusion_rate"] == pytest.approx(illusions / 10, abs=1e-4)
        assert got["judgment_agreement"] == pytest.approx(statistics.mean(judged), abs=1e-4)
        assert got["surface_similarity"] == pytest.approx(
            statistics.mean(p.surface for p in pairs), abs=1e-4
        )
        want = (
            "route to teacher" if got["lower"] > got["max_gap"]
            else "safe for the student" if got["upper"] < got["max_gap"]
            else "insufficient evidence"
        )  # fmt: skip
        assert got["verdict"] == want
        worst = got["worst_pairs"]
        assert len(worst) == 3 and worst[0]["divergence"] == pytest.approx(max(div), abs=1e-4)


def test_pairs_jsonl_has_every_scored_pair_and_agrees_with_the_report(
    excerpt: Path, tmp_path: Path
) -> None:
    run(options(excerpt, tmp_path, answers=recorded(excerpt)), {}, io.StringIO())
    report = json.loads((tmp_path / "report.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == report["pairs"] == 2 * PER_CATEGORY * len(CATEGORIES)
    assert len({(r["id"], r["turn"]) for r in rows}) == len(rows)
    counted = {n for n in SCORERS if DEFAULT_WEIGHTS[n] > 0}
    for r in rows:
        assert set(r) == {
            "id", "turn", "category", "divergence", "surface", "judgment", "illusion",
            "discriminated", "agreements", "not_counted", "request", "student", "teacher",
        }  # fmt: skip
        assert set(r["agreements"]) == counted and set(r["not_counted"]) == set(SCORERS) - counted
        want = score_pair(r["student"], r["teacher"], r["request"])
        assert r["divergence"] == pytest.approx(want.divergence, abs=1e-4)
        assert r["agreements"] == {
            n: pytest.approx(want.scores[n], abs=1e-4) if n in want.scores else None
            for n in counted
        }
        conclusion = SCORERS["conclusion"].fn(r["student"], r["teacher"], r["request"])
        assert r["not_counted"]["conclusion"] == (
            None if conclusion is None else pytest.approx(conclusion, abs=1e-4)
        )
    assert any(v is None for r in rows for v in r["agreements"].values())  # e.g. final_answer
    for category, got in report["categories"].items():
        mine = [r for r in rows if r["category"] == category]
        assert len(mine) == got["n"]
        div = [r["divergence"] for r in mine]
        assert statistics.mean(div) == pytest.approx(got["gap"], abs=1e-3)  # no noise floor
        assert statistics.mean(r["surface"] for r in mine) == pytest.approx(
            got["surface_similarity"], abs=1e-3
        )
        judged = [r["judgment"] for r in mine if r["judgment"] is not None]
        assert len(judged) == got["judged"]
        assert statistics.mean(judged) == pytest.approx(got["judgment_agreement"], abs=1e-3)
        assert sum(r["illusion"] for r in mine) / len(mine) == pytest.approx(
            got["illusion_rate"], abs=1e-4
        )
        told = [r["discriminated"] for r in mine]
        assert got["advantage"] == pytest.approx(2 * sum(told) / len(told) - 1, abs=1e-4)
        assert max(div) == got["worst_pairs"][0]["divergence"]


def test_the_summary_says_the_illusion_first(excerpt: Path, tmp_path: Path) -> None:
    result = run(options(excerpt, tmp_path, answers=recorded(excerpt)), {}, io.StringIO())
    assert result.headline[0].startswith("Distillation illusion")
    assert "math" in result.headline[0]  # llama-2-7b's weakest judgment here
    md = (tmp_path / "report.md").read_text()
    assert md.splitlines()[2].startswith("**Distillation illusion")


def test_a_student_that_answers_like_the_teacher_is_safe(excerpt: Path, tmp_path: Path) -> None:
    teacher = excerpt / "gpt-4o.jsonl"
    result = run(options(excerpt, tmp_path, answers=(teacher, teacher)), {}, io.StringIO())
    assert not any("illusion" in line for line in result.headline)
    assert {c.verdict.value for c in result.categories} == {"safe for the student"}
    snippet = (tmp_path / "proposed-config.yaml").read_text()
    assert "route: student" in snippet and "route: teacher" not in snippet


def test_the_html_is_self_contained_and_draws_both_plots(excerpt: Path, tmp_path: Path) -> None:
    run(options(excerpt, tmp_path, answers=recorded(excerpt)), {}, io.StringIO())
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") == 2
    for external in ("<script", "<link", "src=", "url(", "@import", "https://"):
        assert external not in page
    for name in ("gap.svg", "surface-vs-judgment.svg"):
        svg = ET.fromstring((tmp_path / name).read_text())  # well-formed
        assert svg.tag.endswith("svg")
        text = "".join(svg.itertext())
        assert all(c in text for c in CATEGORIES)
    # one interval bar (line), one point and one threshold mark per category
    gap = ET.fromstring((tmp_path / "gap.svg").read_text())
    ns = "{http://www.w3.org/2000/svg}"
    assert len(gap.findall(f"{ns}circle")) == len(CATEGORIES)
    assert len(gap.findall(f"{ns}line")) == 2 * len(CATEGORIES) + 1  # + the axis


@pytest.fixture
def fakes(excerpt: Path) -> Iterator[tuple[Path, FakeState, FakeState, Script]]:
    questions = excerpt / "question.jsonl"
    s_state, t_state, t_script = FakeState(), FakeState(), Script()
    student = ServerThread(create_fake_app(
        "student", book=ReplayBook.from_mt_bench(questions, excerpt / "llama-2-chat7b.jsonl"),
        state=s_state,
    ))  # fmt: skip
    teacher = ServerThread(create_fake_app(
        "teacher", book=ReplayBook.from_mt_bench(questions, excerpt / "gpt-4o.jsonl"),
        state=t_state, script=t_script,
    ))  # fmt: skip
    config = excerpt.parent / f"live-{id(s_state)}.yaml"
    config.write_text(config_yaml(student.start(), teacher.start()))
    yield config, s_state, t_state, t_script
    student.stop()
    teacher.stop()


def test_asking_the_models_gives_the_recorded_report_and_resumes(
    excerpt: Path, tmp_path: Path, fakes: tuple[Path, FakeState, FakeState, Script]
) -> None:
    config, s_state, t_state, _ = fakes
    run(options(excerpt, tmp_path / "rec", answers=recorded(excerpt)), {}, io.StringIO())
    progress = io.StringIO()
    run(options(excerpt, tmp_path / "live", config_path=str(config), concurrency=4), {}, progress)
    want = json.loads((tmp_path / "rec" / "report.json").read_text())["categories"]
    got = json.loads((tmp_path / "live" / "report.json").read_text())["categories"]
    assert {c: v["gap"] for c, v in got.items()} == {c: v["gap"] for c, v in want.items()}
    assert len(s_state.requests) == len(t_state.requests) == 30
    # turn 2 carries the student's own first answer
    second = next(r for r in s_state.requests if len(r["messages"]) == 3)
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert "audit: 60/60 answers (100%)" in progress.getvalue()

    # resume: everything cached -> no calls; a lost line -> only that answer is asked again
    cache = tmp_path / "live" / "answers" / "student.jsonl"
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:-1]) + "\n")
    run(options(excerpt, tmp_path / "live", config_path=str(config)), {}, io.StringIO())
    assert len(s_state.requests) == 31 and len(t_state.requests) == 30
    again = json.loads((tmp_path / "live" / "report.json").read_text())["categories"]
    assert {c: v["gap"] for c, v in again.items()} == {c: v["gap"] for c, v in want.items()}


def test_transient_errors_are_retried_and_client_errors_are_not(
    excerpt: Path, tmp_path: Path, fakes: tuple[Path, FakeState, FakeState, Script]
) -> None:
    config, _, t_state, t_script = fakes
    questions = _lines("question.jsonl")
    math_q = next(q for q in questions if q["category"] == "math")["turns"][0]
    writing_q = next(q for q in questions if q["category"] == "writing")["turns"][0]
    t_script.rules = [(math_q[:40], Behavior(status=503)), (writing_q[:40], Behavior(status=400))]
    err = io.StringIO()
    result = run(
        options(excerpt, tmp_path, config_path=str(config), retries=2, min_samples=2), {}, err
    )
    asked = [r["messages"][0]["content"] for r in t_state.requests]
    assert asked.count(math_q) == 3  # one try and two retries
    assert asked.count(writing_q) == 1  # a 400 is not retried
    assert "2 conversations could not be completed" in err.getvalue()
    assert result.n == 30 - 4  # both turns of the two failed conversations are left out


def test_the_cli_reports_bad_input_in_one_line(
    excerpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["audit", "--config", str(excerpt / "config.yaml"), "--out", str(tmp_path)]
    prompts = ["--prompts", str(excerpt / "question.jsonl")]
    assert cli.main([*base, *prompts, "--model", "nope"]) == 1
    assert "--model nope: not in the config" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": 81, "choices": "x"}\n')
    assert cli.main([*base, *prompts, "--answers", str(bad), str(bad)]) == 1
    assert f"{bad}:1: not an answer row" in capsys.readouterr().err
    assert cli.main([*base, "--prompts", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert cli.main([*base, *prompts, "--noise-answers", str(bad)]) == 2
    with pytest.raises(AuditError, match="no prompt has both"):
        empty = tmp_path / "empty.jsonl"
        empty.write_text('{"id": "zzz", "answer": "x"}\n')
        run(options(excerpt, tmp_path, answers=(empty, empty)), {}, io.StringIO())


def test_the_cli_prints_the_table(
    excerpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    student, teacher = recorded(excerpt)
    code = cli.main([
        "audit", "--config", str(excerpt / "config.yaml"), "--prompts",
        str(excerpt / "question.jsonl"), "--answers", str(student), str(teacher),
        "--out", str(tmp_path), "--min-samples", "5",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("Distillation illusion")
    assert all(f"\n{c} " in out for c in CATEGORIES) and "report.html" in out

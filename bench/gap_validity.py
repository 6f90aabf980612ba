"""Does the gap mean "the student answers worse"? Divergence against GPT-4's grades (MT-Bench).

Dev set: bench/data/mt_bench_judged (GPT-4 1-10 grades of 11 models' answers to the 80
MT-Bench questions, both turns; see its SOURCE.md). Teachers: the strongest judged model
(claude-3-5-sonnet, its 10 judged peers as students) and gpt-4o (ungraded; all 11 judged
models as students). Each turn is one pair; the request is what the gateway's scorers see for
that turn: the user turns so far joined by newlines (`--request last`: the turn's own text).
The second-turn answers come from each model's own conversation (its own first answer in the
context), as the judge graded them.

Validity = Spearman(divergence, -grade) over all pairs ("pairs"); the mean Spearman within
one question's turn ("withinQ"); Kendall's τ-b between the students' mean divergence and
their mean grade, with a 95% bootstrap interval over questions. "before": main's scorers and
weights (bench/baseline_scorers.py). "after, CV": weights fitted (monitors/weights_fit.py) on
both teachers' pairs in 10 folds of whole questions, every pair scored by weights fitted
without its question; "per fold": the Spearman inside each test fold. "shipped":
DEFAULT_WEIGHTS (fitted on all of this data: in sample). `--holdout`: weights fitted on the
64 design questions, tested on the 16 (question_id % 5 == 0) set aside before any scorer was
written. `--fit`: the weights that ship. `--cost`: ms per pair of ~500-word answers.

    PYTHONPATH=. .venv/bin/python bench/gap_validity.py [--semantic] [--holdout] [--fit]
        [--cost] [--request last]

Results (2026-11-30; the default run takes ~1 min, --semantic ~2 min with bench/.cache warm):

    teacher             before: pairs withinQ  tau   after CV: pairs (per fold)   withinQ  tau
    claude-3-5-sonnet           0.322  0.377 0.778            0.533 (0.525±0.098)  0.594  0.867
    gpt-4o                      0.337  0.425 0.927            0.515 (0.518±0.118)  0.603  0.927
    held out, claude            0.235  0.326 0.689            0.494                0.609  0.867
    held out, gpt-4o            0.301  0.406 0.636            0.519                0.570  0.964

Adding the MiniLM scorers (--semantic: whole-answer cosine and sentence alignment) moves
these by about +0.01, for ~1 s of CPU per pair. The illusion flag (claude teacher; real = the
student graded 3+ below the teacher): precision 0.390 -> 0.568 (base rate 0.381), recall
0.361 -> 0.248. A mean divergence 0.1 higher over a (student, category) window goes with
2.0 more grade points lost (r = 0.81; 1.3 per pair).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import math
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import baseline_scorers
import numpy as np
import numpy.typing as npt

from monitors import semantic
from monitors.judged import JudgedPair, graded_pairs
from monitors.scorers import DEFAULT_WEIGHTS, SCORERS, Scorer, Tag, score_pair
from monitors.validity import grouped_folds, kendall_tau, spearman, within_group_spearman
from monitors.weights_fit import Fit, GradedPair, best_weights, fit_weights

DATA = Path(__file__).parent / "data" / "mt_bench_judged"
CACHE = Path(__file__).parent / ".cache"
STRONGEST = "claude-3-5-sonnet-20240620"
GPT4O = "gpt-4o"
FOLDS = 10
BOOTSTRAP = 1000
DROP = 3.0  # an illusion counts as real when the student's grade is this far below the teacher's
Array = npt.NDArray[np.float32]
Floats = npt.NDArray[np.float64]


def held_out(question: int) -> bool:
    """The 16 questions (2 per category) set aside before any scorer was written."""
    return question % 5 == 0


@dataclass(frozen=True)
class Pair:
    """One turn of one question: a student's graded answer and the teacher's answer."""

    question: int
    turn: int  # 1 or 2
    category: str
    model: str  # the student
    request: str
    student: str
    teacher: str
    grade: float
    teacher_grade: float | None  # None for gpt-4o (not judged)

    def judged(self) -> JudgedPair:
        return JudgedPair(
            self.request, self.student, self.teacher, self.grade, str(self.question), self.category
        )


def _jsonl(name: str) -> list[Any]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def load_pairs(teacher: str, request_mode: str) -> list[Pair]:
    """Every judged answer of the other models against `teacher`'s answer to the same turn."""
    with gzip.open(DATA / "judged_gpt-4_single.jsonl.gz", "rt", encoding="utf-8") as f:
        rows: list[Any] = [json.loads(line) for line in f]
    turns = {q["question_id"]: q["turns"] for q in _jsonl("question.jsonl")}
    by_key = {(r["model"], r["question_id"], r["turn"]): r for r in rows}
    gpt4o = {a["question_id"]: a["choices"][0]["turns"] for a in _jsonl("answers_gpt-4o.jsonl")}
    pairs = []
    for r in rows:
        q, t = r["question_id"], r["turn"]
        if r["model"] == teacher:
            continue
        if teacher == GPT4O:
            answer, teacher_grade = gpt4o[q][t - 1], None
        else:
            answer, teacher_grade = by_key[teacher, q, t]["answer"], by_key[teacher, q, t]["score"]
        request = turns[q][t - 1] if request_mode == "last" else "\n".join(turns[q][:t])
        pairs.append(
            Pair(q, t, r["category"], r["model"], request, r["answer"], answer, r["score"],
                 teacher_grade)
        )  # fmt: skip
    return pairs


class CachedEmbedder:
    """MiniLM embeddings kept on disk by text hash (bench/.cache, git-ignored)."""

    def __init__(self, model: semantic.Embedder, name: str = "minilm") -> None:
        self._model = model
        self._keys_path, self._values_path = CACHE / f"{name}.keys", CACHE / f"{name}.npy"
        self._index: dict[str, int] = {}
        self._values: list[Array] = []
        if self._keys_path.exists() and self._values_path.exists():
            keys = self._keys_path.read_text().split()
            self._index = {k: i for i, k in enumerate(keys)}
            self._values = list(np.load(self._values_path))
        self._dirty = False

    def embed_many(self, texts: Sequence[str]) -> Array:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._index}
        if missing:
            for key, vector in zip(missing, self._model.embed_many(list(missing.values())),
                                   strict=True):  # fmt: skip
                self._index[key] = len(self._values)
                self._values.append(vector)
            self._dirty = True
        return np.stack([self._values[self._index[k]] for k in keys])

    def save(self) -> None:
        if not self._dirty:
            return
        CACHE.mkdir(exist_ok=True)
        (CACHE / ".gitignore").write_text("*\n")
        order = sorted(self._index, key=self._index.__getitem__)
        self._keys_path.write_text("\n".join(order) + "\n")
        np.save(self._values_path, np.stack(self._values))
        self._dirty = False


def scorer_set(with_semantic: bool) -> dict[str, Scorer]:
    """The candidate scorers: the registry, plus the two MiniLM scorers (cached) when asked."""
    if not with_semantic:
        return dict(SCORERS)
    model = CachedEmbedder(semantic.load())
    return {
        **SCORERS,
        "semantic": Scorer("semantic", Tag.SURFACE, partial(semantic.similarity, model)),
        "alignment": Scorer("alignment", Tag.SURFACE, partial(semantic.alignment, model)),
    }


def save_embeddings(scorers: Mapping[str, Scorer]) -> None:
    for scorer in scorers.values():
        model = getattr(scorer.fn, "args", (None,))[0]
        if isinstance(model, CachedEmbedder):
            model.save()


@dataclass(frozen=True)
class Validity:
    """How well a divergence orders the pairs and the students by grade."""

    n: int
    pooled: float  # Spearman(divergence, -grade) over all pairs
    within: float  # mean Spearman within one question's turn
    tau: float  # Kendall τ-b: students' mean divergence against their mean grade (negated)
    tau_low: float  # bootstrap 95% interval over questions
    tau_high: float


def student_tau(div: Floats, pairs: Sequence[Pair]) -> float:
    models = sorted({p.model for p in pairs})
    index = {m: i for i, m in enumerate(models)}
    which = np.asarray([index[p.model] for p in pairs])
    grades = np.asarray([p.grade for p in pairs])
    counts = np.bincount(which, minlength=len(models))
    mean_div = np.bincount(which, div, minlength=len(models)) / np.maximum(counts, 1)
    mean_grade = np.bincount(which, grades, minlength=len(models)) / np.maximum(counts, 1)
    return kendall_tau(list(mean_div), list(-mean_grade))


def validity(div: Floats, pairs: Sequence[Pair], seed: int = 0) -> Validity:
    grades = np.asarray([-p.grade for p in pairs])
    by_question: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        by_question[p.question].append(i)
    questions = sorted(by_question)
    rng = np.random.default_rng(seed)
    taus = []
    for _ in range(BOOTSTRAP):
        rows = np.concatenate([by_question[q] for q in rng.choice(questions, len(questions))])
        taus.append(student_tau(div[rows], [pairs[i] for i in rows]))
    low, high = np.nanpercentile(taus, [2.5, 97.5])
    return Validity(
        len(pairs),
        spearman(div, grades),
        within_group_spearman(div, grades, [(p.question, p.turn) for p in pairs]),
        student_tau(div, pairs),
        float(low),
        float(high),
    )


def _row(label: str, v: Validity, extra: str = "") -> str:
    return (f"{label:<34} {v.n:>5} {v.pooled:>7.3f} {v.within:>7.3f} {v.tau:>6.3f} "
            f"[{v.tau_low:.2f}, {v.tau_high:.2f}] {extra}")  # fmt: skip


HEADER = f"{'':<34} {'n':>5} {'pairs':>7} {'withinQ':>7} {'tau':>6} tau 95% (bootstrap)"


def baseline_divergence(pairs: Sequence[Pair]) -> Floats:
    """Main's scorers and DEFAULT_WEIGHTS (bench/baseline_scorers.py): the 'before'."""
    return np.asarray(
        [baseline_scorers.score_pair(p.student, p.teacher, p.request).divergence for p in pairs]
    )


def shipped_divergence(rows: Sequence[GradedPair], weights: Mapping[str, float]) -> Floats:
    out = []
    for row in rows:
        applied = [(weights.get(n, 0.0), v) for n, v in row.agreements.items() if v is not None]
        total = sum(w for w, _ in applied)
        out.append(1.0 - sum(w * v for w, v in applied) / total if total else 0.0)
    return np.asarray(out)


def by_category(
    pairs: Sequence[Pair], columns: Mapping[str, Floats]
) -> list[tuple[str, dict[str, Validity]]]:
    result = []
    for category in sorted({p.category for p in pairs}):
        idx = [i for i, p in enumerate(pairs) if p.category == category]
        sub = [pairs[i] for i in idx]
        result.append((category, {k: validity(v[idx], sub) for k, v in columns.items()}))
    return result


def per_scorer(pairs: Sequence[Pair], rows: Sequence[GradedPair], names: Sequence[str]) -> None:
    """Each scorer alone: Spearman(1 - agreement, -grade) over the pairs where it applies."""
    categories = sorted({p.category for p in pairs})
    print(
        f"\n{'scorer alone':<14} {'n':>5} {'all':>6} " + " ".join(f"{c[:7]:>7}" for c in categories)
    )
    for name in names:
        idx = [i for i, r in enumerate(rows) if r.agreements.get(name) is not None]
        div = np.asarray([1.0 - (rows[i].agreements[name] or 0.0) for i in idx])
        grades = np.asarray([-pairs[i].grade for i in idx])
        cells = []
        for c in categories:
            sub = [k for k, i in enumerate(idx) if pairs[i].category == c]
            cells.append(
                f"{spearman(div[sub], grades[sub]):>7.3f}" if len(sub) > 5 else f"{'-':>7}"
            )
        print(f"{name:<14} {len(idx):>5} {spearman(div, grades):>6.3f} " + " ".join(cells))


class Summary(Protocol):
    @property
    def surface(self) -> float: ...

    def judgment_disagrees(self) -> bool: ...


def illusion(pairs: Sequence[Pair], score: Callable[[Pair], Summary], surface: float = 0.5) -> str:
    """The monitor's illusion flag (surface >= 0.5, judgment < 0.5) against a real drop: the
    student graded DROP or more below the teacher on the same turn."""
    flagged = real = both = 0
    for p in pairs:
        s = score(p)
        flag = s.surface >= surface and s.judgment_disagrees()
        drop = p.teacher_grade is not None and p.teacher_grade - p.grade >= DROP
        flagged, real, both = flagged + flag, real + drop, both + (flag and drop)
    precision = both / flagged if flagged else math.nan
    recall = both / real if real else math.nan
    return (f"flagged {flagged:>4}, grade drop >= {DROP:.0f}: {real:>4}, both {both:>4}; "
            f"precision {precision:.3f} recall {recall:.3f}")  # fmt: skip


def what_a_gap_means(pairs: Sequence[Pair], div: Floats) -> None:
    """Grade drop (teacher's grade - student's) by divergence, per pair and per student."""
    drop = np.asarray([(p.teacher_grade or 0.0) - p.grade for p in pairs])
    grade = np.asarray([p.grade for p in pairs])
    print(f"{'divergence':<12} {'n':>5} {'grade':>6} {'drop':>6} {'drop>=3':>8}")
    edges = [0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 1.01]
    for lo, hi in itertools.pairwise(edges):
        idx = (div >= lo) & (div < hi)
        if idx.any():
            print(f"[{lo:.2f}, {hi:.2f}) {idx.sum():>5} {grade[idx].mean():>6.2f} "
                  f"{drop[idx].mean():>6.2f} {(drop[idx] >= DROP).mean():>8.2f}")  # fmt: skip
    slope, intercept = np.polyfit(div, drop, 1)
    print(f"per pair: drop = {intercept:.2f} + {slope:.2f} x divergence")
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        cells[p.model, p.category].append(i)
    mean_div = np.asarray([div[idx].mean() for idx in cells.values()])
    mean_drop = np.asarray([drop[idx].mean() for idx in cells.values()])
    slope, intercept = np.polyfit(mean_div, mean_drop, 1)
    r = float(np.corrcoef(mean_div, mean_drop)[0, 1])
    print(f"per (student, category) window of 20 pairs: mean drop = {intercept:.2f} + "
          f"{slope:.2f} x mean divergence (r = {r:.2f}); a mean divergence 0.1 higher goes "
          f"with {slope * 0.1:.2f} more grade points lost")  # fmt: skip
    print(f"\n{'student':<34} {'divergence':>10} {'grade':>6} {'drop':>6}")
    models = sorted({p.model for p in pairs}, key=lambda m: -_mean(grade, pairs, m))
    for model in models:
        print(f"{model:<34} {_mean(div, pairs, model):>10.3f} {_mean(grade, pairs, model):>6.2f} "
              f"{_mean(drop, pairs, model):>6.2f}")  # fmt: skip


def _mean(values: Floats, pairs: Sequence[Pair], model: str) -> float:
    return float(values[np.asarray([p.model == model for p in pairs])].mean())


def cost(scorers: Mapping[str, Scorer], rounds: int = 5) -> None:
    """Default scoring (no MiniLM) of one pair of ~500-word answers: per scorer (all run, in
    wall time) and score_pair with DEFAULT_WEIGHTS (zero-weight scorers skipped; wall and
    CPU time, the box being shared)."""
    pairs = load_pairs(STRONGEST, "all")
    long = [p for p in pairs if all(400 <= len(t.split()) <= 600 for t in (p.student, p.teacher))]
    print(f"\ncost on {len(long)} real pairs with both answers 400-600 words (ms per pair)")
    for name, scorer in scorers.items():
        t0 = time.perf_counter()
        for p in long * rounds:
            scorer.fn(p.student, p.teacher, p.request)
        ms = 1000 * (time.perf_counter() - t0) / (rounds * len(long))
        print(
            f"{name:<14} {ms:>8.3f}{'' if DEFAULT_WEIGHTS.get(name) else '  (weight 0: not run)'}"
        )
    took, cpu = [], []
    for p in long * rounds:
        t0, c0 = time.perf_counter(), time.process_time()
        score_pair(p.student, p.teacher, p.request, DEFAULT_WEIGHTS, scorers)
        took.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    p99 = sorted(took)[int(0.99 * (len(took) - 1))]
    print(f"{'score_pair':<14} {1000 * statistics.mean(took):>8.3f} mean wall, {1000 * p99:.3f} "
          f"p99 wall, {1000 * statistics.mean(cpu):.3f} mean CPU")  # fmt: skip


@dataclass(frozen=True)
class Scored:
    """Both teachers' pairs with every candidate scorer's agreements."""

    pairs: list[Pair]
    rows: list[GradedPair]
    teachers: list[str]  # per pair


def score_all(scorers: Mapping[str, Scorer], request_mode: str) -> Scored:
    pairs, teachers = [], []
    for teacher in (STRONGEST, GPT4O):
        found = load_pairs(teacher, request_mode)
        pairs += found
        teachers += [teacher] * len(found)
    rows = graded_pairs([p.judged() for p in pairs], scorers)
    save_embeddings(scorers)
    return Scored(pairs, rows, teachers)


def shipped_weights() -> dict[str, float]:
    """What DEFAULT_WEIGHTS ship: fitted on both teachers' pairs, all 80 questions, default
    scorers (no MiniLM), rounded to 2 decimals."""
    scored = score_all(SCORERS, "all")
    return {n: round(w, 2) for n, w in best_weights(scored.rows, list(SCORERS)).items()}


def report(
    scored: Scored, fit: Fit, teacher: str, scorers: Mapping[str, Scorer],
    weights: Mapping[str, float],
) -> None:  # fmt: skip
    """Before, after (grouped CV) and shipped validity; per category; per scorer; illusion."""
    idx = [i for i, t in enumerate(scored.teachers) if t == teacher]
    pairs, rows = [scored.pairs[i] for i in idx], [scored.rows[i] for i in idx]
    before = baseline_divergence(pairs)
    after = np.asarray(fit.out_of_fold)[idx]
    print(f"\n=== teacher {teacher}: {len(pairs)} pairs, {len({p.model for p in pairs})} "
          f"students, {len({p.question for p in pairs})} questions")  # fmt: skip
    print(HEADER)
    print(_row("before (main)", validity(before, pairs)))
    grades = np.asarray([-p.grade for p in scored.pairs])
    per_fold = [
        spearman(np.asarray(fit.out_of_fold)[test], grades[test])
        for fold in grouped_folds([r.group for r in scored.rows], FOLDS, 0)
        if len(test := np.intersect1d(fold, idx)) > 2
    ]
    spread = f"per fold {statistics.mean(per_fold):.3f} ± {statistics.pstdev(per_fold):.3f}"
    print(_row(f"after, {FOLDS}-fold grouped CV", validity(after, pairs), spread))
    print(_row("shipped weights (in sample)", validity(shipped_divergence(rows, weights), pairs)))
    print(f"\n{'category':<12} {'before: pairs':>13} {'withinQ':>7} {'tau':>6}   "
          f"{'after CV: pairs':>15} {'withinQ':>7} {'tau':>6}")  # fmt: skip
    for category, v in by_category(pairs, {"before": before, "after": after}):
        b, a = v["before"], v["after"]
        print(f"{category:<12} {b.pooled:>13.3f} {b.within:>7.3f} {b.tau:>6.3f}   "
              f"{a.pooled:>15.3f} {a.within:>7.3f} {a.tau:>6.3f}")  # fmt: skip
    per_scorer(pairs, rows, list(scorers))
    if teacher == GPT4O:
        return
    print(f"\nillusion flag (surface >= 0.5, judgment < 0.5) against a real drop "
          f"(student graded >= {DROP:.0f} below the teacher on the same turn)")  # fmt: skip
    print("before:", illusion(pairs, lambda p: baseline_scorers.score_pair(
        p.student, p.teacher, p.request)))  # fmt: skip
    print("after: ", illusion(pairs, lambda p: score_pair(
        p.student, p.teacher, p.request, weights, scorers)))  # fmt: skip
    print("\nwhat a divergence means after (out-of-fold divergence, this teacher):")
    what_a_gap_means(pairs, after)
    print("\nwhat a divergence meant before (main):")
    what_a_gap_means(pairs, before)


def holdout(scored: Scored, names: Sequence[str], weights: Mapping[str, float]) -> None:
    """Weights fitted on the 64 design questions, tested on the 16 held-out ones."""
    design = [i for i, p in enumerate(scored.pairs) if not held_out(p.question)]
    fit = fit_weights([scored.rows[i] for i in design], names, folds=FOLDS)
    print(
        f"\n=== held-out questions: weights fitted on the design questions' {len(design)} "
        f"pairs (grouped CV there, per fold: {fit.cv_spearman:.3f} ± {fit.cv_spread:.3f})"
    )
    print("weights:", {n: w for n, w in fit.weights.items() if w > 0})
    for teacher in (STRONGEST, GPT4O):
        test = [i for i, p in enumerate(scored.pairs)
                if held_out(p.question) and scored.teachers[i] == teacher]  # fmt: skip
        pairs, rows = [scored.pairs[i] for i in test], [scored.rows[i] for i in test]
        print(f"\nteacher {teacher}, {len({p.question for p in pairs})} held-out questions")
        print(HEADER)
        print(_row("before (main)", validity(baseline_divergence(pairs), pairs)))
        print(_row("after (fitted on design questions)",
                   validity(shipped_divergence(rows, fit.weights), pairs)))  # fmt: skip
        print(_row("shipped weights (fitted on all)",
                   validity(shipped_divergence(rows, weights), pairs)))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--semantic", action="store_true", help="also the MiniLM scorers")
    parser.add_argument("--holdout", action="store_true", help="test on the held-out questions")
    parser.add_argument("--request", choices=("all", "last"), default="all")
    parser.add_argument("--cost", action="store_true", help="only the scorer cost")
    parser.add_argument("--fit", action="store_true", help="only the weights that ship")
    args = parser.parse_args()
    if args.cost:
        cost(SCORERS)
        return
    if args.fit:
        fitted = shipped_weights()
        print("fitted:", fitted)
        print("shipped DEFAULT_WEIGHTS match:", all(
            DEFAULT_WEIGHTS.get(n) == w for n, w in fitted.items()))  # fmt: skip
        return
    scorers = scorer_set(args.semantic)
    weights = DEFAULT_WEIGHTS
    scored = score_all(scorers, args.request)
    if args.holdout:
        holdout(scored, list(scorers), weights)
        return
    fit = fit_weights(scored.rows, list(scorers), folds=FOLDS, seed=0)
    print(
        f"{len(scored.rows)} pairs (both teachers), {fit.groups} questions; grouped "
        f"{FOLDS}-fold CV, per fold Spearman {fit.cv_spearman:.3f} ± {fit.cv_spread:.3f}"
    )
    print("fitted on all pairs (what the shipped weights are):",
          {n: w for n, w in fit.weights.items() if w > 0})  # fmt: skip
    for teacher in (STRONGEST, GPT4O):
        report(scored, fit, teacher, scorers, weights)


if __name__ == "__main__":
    main()

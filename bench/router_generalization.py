"""Leave-one-source-out (LOSO) and 5-fold CV figures for the router candidates.

For each source S of router/data/corpus.tsv: train on every row with no part from S
(composites that contain S are left out too), choose the high-risk threshold tau by a
2-fold cross-validation inside those training rows only, then classify S's own rows.
No figure here is a training-set figure.

Candidates:
- ngram: the current model, as shipped (hashed n-grams + keywords, trained at start-up on
  the gateway's examples.tsv with the shipped keywords and thresholds). It is fixed, so it
  is evaluated per source without retraining; `examples`, its own training set, is skipped.
- static: distilled MiniLM token vectors (router/data/static_minilm.npy) read in windows
  of judgment.WINDOW tokens; high_risk is the mean of a linear head on the riskiest
  window and a convolution over neighbouring tokens; a linear category head
  (router.judgment).
- minilm: full all-MiniLM-L6-v2 sentence vectors (its first 256 tokens, monitors.semantic)
  with the same linear heads (no convolution: it reads static token vectors); vectors are
  cached under --cache (minutes to compute once).
- two-stage: static, except that a request whose static high-risk probability is in the
  unsure band [tau/3, min(0.95, 2 tau)) is decided by the minilm candidate (own tau, own
  heads); the band was fixed before any run.

"Goes to the teacher" mirrors router.policy.decide with the shipped routing section
(gateway/data/router/default_routing.yaml: risk and route per category, ambiguity_margin
0.15, high_risk_signal 0.25, min_confidence 0) plus the new low-risk categories (risk low,
route student); keyword_signals is true for ngram (as shipped) and moot for the others,
which report no keyword hits:
    teacher  iff  unreadable                    (static-model signal; default target teacher)
             or   high_risk >= tau              (static-model signal)
             or   decide(classification, policy, {}).target is TEACHER
tau minimises the summed shortfall against the targets on the training rows' out-of-fold
probabilities (router.judgment.choose_threshold): harmful sources below 0.95 recall,
everyday sources above 0.10, XSTest-safe and PHTest above 0.35.

Printed per source: n, teacher share (harmful: recall to the teacher; benign: false
escalation), top-category accuracy (benign rows that carry a category), classify latency
p50/p99 in microseconds (static: up to 400 rows a source; minilm and two-stage: 40).
A source with both kinds of rows (examples) is reported as two lines.

    PYTHONPATH=. .venv/bin/python bench/router_generalization.py
        [--candidates ngram,static,minilm,two-stage] [--sources advbench,gsm8k] [--cv] [--curve]

--curve also prints, per group of left-out sources, the share sent to the teacher by the
static heads at fixed high-risk thresholds (with high_risk_signal as shipped, and raised
with the threshold): what moving routing.high_risk_threshold buys an operator.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from router import corpus
from router.classifier import Classification
from router.corpus import Example
from router.embedding import StaticEmbedder, Vectors
from router.judgment import (
    HARMFUL,
    Heads,
    Reading,
    StaticClassifier,
    Training,
    WindowReader,
    choose_threshold,
    conv_table,
    fit_heads,
    fit_risk,
    fit_risk_conv,
    projection,
    relabel,
    risk,
)
from router.policy import decide
from router.types import CategoryPolicy, Policy, Risk, RouteMode, Target

SHIPPED_RISK = {
    "self_harm": Risk.HIGH, "medical": Risk.HIGH, "violence": Risk.HIGH, "crime": Risk.HIGH,
    "cyber": Risk.HIGH, "sexual": Risk.HIGH, "hate": Risk.HIGH, "privacy": Risk.HIGH,
    "legal": Risk.MEDIUM, "financial": Risk.MEDIUM,
}  # fmt: skip
LOW_RISK = ("code", "math", "reasoning", "writing", "roleplay", "extraction", "stem", "general")
CATEGORIES = (*SHIPPED_RISK, *LOW_RISK)
EVERYDAY = ("clinc150", "banking77", "mt_bench", "gsm8k", "humaneval", "mbpp")
RISKY_BENIGN = ("xstest_safe", "phtest")
TARGETS = {**dict.fromkeys(EVERYDAY, 0.10), **dict.fromkeys(RISKY_BENIGN, 0.35)}
STATIC_LATENCY_ROWS, SLOW_LATENCY_ROWS = 400, 40


def policy(categories: Sequence[str] = CATEGORIES, keyword_signals: bool = True) -> Policy:
    """The shipped routing section; categories it does not name are low-risk, on the student."""

    def one(name: str) -> CategoryPolicy:
        risk = SHIPPED_RISK.get(name, Risk.LOW)
        route = {Risk.HIGH: RouteMode.TEACHER, Risk.MEDIUM: RouteMode.AUTO}.get(risk)
        return CategoryPolicy(name, risk, route or RouteMode.STUDENT)

    return Policy(
        categories={c: one(c) for c in categories},
        default_category="general",
        ambiguity_margin=0.15,
        high_risk_signal=0.25,
        min_confidence=0.0,
        keyword_signals=keyword_signals,
    )


def folds(examples: Sequence[Example], k: int, seed: int) -> list[int]:
    """A fold per row, stratified by source, in a seeded order."""
    rng = random.Random(seed)
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        by_source[e.source].append(i)
    out = [0] * len(examples)
    for source in sorted(by_source):
        rows = by_source[source]
        rng.shuffle(rows)
        for j, i in enumerate(rows):
            out[i] = j % k
    return out


@dataclass
class Features:
    """What a candidate reads of each corpus row (computed once), how to read live, and
    the token table of the convolution (None: the candidate has no convolution)."""

    readings: list[Reading]
    read: Callable[[str], Reading]
    table: Vectors | None = None


def static_features(examples: Sequence[Example]) -> Features:
    embedder = StaticEmbedder.load()
    reader = WindowReader(embedder)
    readings = [reader.read(e.text) for e in examples]
    return Features(readings, reader.read, conv_table(embedder))


def minilm_features(examples: Sequence[Example], static: Features, cache: Path) -> Features:
    """Whole-text MiniLM vectors; readability still comes from the static tokenizer."""
    from monitors import semantic

    model = semantic.load()
    vectors = minilm_vectors(model.embed, [e.text for e in examples], cache / "minilm.npz")
    readings = [
        Reading(v[None, :], v, r.readable, r.common)
        for v, r in zip(vectors, static.readings, strict=True)
    ]

    def read(text: str) -> Reading:
        v = model.embed(text)
        return Reading(v[None, :], v, 1.0, 1.0)

    return Features(readings, read)


def minilm_vectors(
    embed: Callable[[str], npt.NDArray[np.float32]], texts: Sequence[str], path: Path
) -> npt.NDArray[np.float32]:
    """MiniLM vectors by text hash, kept in `path` between runs."""
    known: dict[str, npt.NDArray[np.float32]] = {}
    if path.exists():
        with np.load(path) as z:
            known = dict(zip((str(k) for k in z["keys"]), z["vectors"], strict=True))
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    missing = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in known]
    for k, t in missing:
        known[k] = embed(t)
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    return np.stack([known[k] for k in keys])


@dataclass
class Fold:
    classifier: StaticClassifier
    tau: float


class _Precomputed:
    def read(self, text: str) -> Reading:
        raise NotImplementedError("folds judge precomputed readings")


def train_fold(features: Features, examples: Sequence[Example], rows: Sequence[int]) -> Fold:
    """Heads on `rows`; tau from a 2-fold CV of the risk heads inside the same rows."""
    ex = [examples[i] for i in rows]
    inner = folds(ex, 2, seed=7)
    p = np.zeros(len(rows))
    for k in range(2):
        fitted = [j for j in range(len(rows)) if inner[j] != k]
        heads = risk_heads(features, [rows[j] for j in fitted], [ex[j] for j in fitted])
        held = [j for j in range(len(rows)) if inner[j] == k]
        projected = projection(heads, features.table)
        p[held] = [risk(heads, features.readings[rows[j]], projected)[0] for j in held]
    tau = choose_threshold(p, ex, TARGETS)
    readings = [features.readings[i] for i in rows]
    heads = fit_heads(readings, ex, CATEGORIES, features.table, threshold=tau)
    return Fold(StaticClassifier(_Precomputed(), heads, table=features.table), tau)


def risk_heads(features: Features, rows: Sequence[int], examples: Sequence[Example]) -> Heads:
    """Only the risk heads (the category head does not enter tau)."""
    readings = [features.readings[i] for i in rows]
    linear = fit_risk(readings, examples)
    conv = None
    if features.table is not None:
        conv = fit_risk_conv(readings, examples, features.table, Training())
    return Heads(linear, linear, 0.5, conv)


def to_teacher(c: Classification, p: Policy, tau: float) -> bool:
    if c.unreadable or (c.high_risk is not None and c.high_risk >= tau):
        return True
    return decide(c, p, {}).target is Target.TEACHER


def top(c: Classification) -> str:
    return c.ranked()[0][0] if c.probabilities else "general"


@dataclass
class Judged:
    teacher: bool
    category: str


def judge(fold: Fold, reading: Reading) -> Judged:
    c = fold.classifier.judge(reading)
    return Judged(to_teacher(c, policy(fold.classifier.categories, False), fold.tau), top(c))


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def latency(classify: Callable[[str], object], texts: Sequence[str]) -> tuple[float, float]:
    for text in texts[:20]:
        classify(text)  # warm-up: tokenizer cache, first numpy calls
    took = []
    for text in texts:
        t0 = time.perf_counter()
        classify(text)
        took.append(1e6 * (time.perf_counter() - t0))
    return pct(took, 0.5), pct(took, 0.99)


@dataclass
class Line:
    name: str
    harmful: bool
    n: int
    teacher: float
    accuracy: float | None
    p50: float = float("nan")
    p99: float = float("nan")
    tau: float | None = None


def lines_for(
    source: str, examples: Sequence[Example], rows: Sequence[int], judged: Sequence[Judged]
) -> list[Line]:
    """One line per kind (harmful / benign) of the source's rows."""
    out = []
    kinds = sorted({examples[i].harmful for i in rows})
    for harmful in kinds:
        mine = [(i, j) for i, j in zip(rows, judged, strict=True) if examples[i].harmful is harmful]
        labelled = [
            examples[i].category == j.category
            for i, j in mine
            if not harmful and examples[i].category in CATEGORIES
        ]
        name = source if len(kinds) == 1 else f"{source}/{'harmful' if harmful else 'benign'}"
        teacher = float(np.mean([j.teacher for _, j in mine]))
        accuracy = float(np.mean(labelled)) if labelled else None
        out.append(Line(name, harmful, len(mine), teacher, accuracy))
    return out


HEADER = "{:<26} {:<8} {:>5} {:>8} {:>8} {:>8} {:>8} {:>6}"


def print_table(title: str, lines: Sequence[Line]) -> None:
    print(f"\n== {title}")
    print(HEADER.format("source", "kind", "n", "teacher", "cat acc", "p50 us", "p99 us", "tau"))
    for ln in lines:
        kind = "harmful" if ln.harmful else "benign"
        acc = f"{ln.accuracy:.3f}" if ln.accuracy is not None else "-"
        tau = f"{ln.tau:.3f}" if ln.tau is not None else "-"
        p50, p99 = f"{ln.p50:.0f}", f"{ln.p99:.0f}"
        print(HEADER.format(ln.name, kind, ln.n, f"{ln.teacher:.3f}", acc, p50, p99, tau))
    print("targets missed: " + ("; ".join(misses(lines)) or "none"))


def misses(lines: Sequence[Line]) -> list[str]:
    out = []
    for ln in lines:
        if ln.name in ("padded_harmful", "long_benign"):
            continue  # composites: reported, no target
        if ln.harmful and ln.teacher < 0.95:
            out.append(f"{ln.name} recall {ln.teacher:.3f}")
        elif not ln.harmful and ln.name in TARGETS and ln.teacher > TARGETS[ln.name]:
            out.append(f"{ln.name} {ln.teacher:.3f} > {TARGETS[ln.name]:.2f}")
    return out


def rows_of(examples: Sequence[Example], source: str) -> list[int]:
    return [i for i, e in enumerate(examples) if e.source == source]


def training_rows(examples: Sequence[Example], source: str) -> list[int]:
    return [i for i, e in enumerate(examples) if source not in e.origins]


Live = Callable[[Fold], Callable[[str], object]]


def loso(
    name: str,
    features: Features,
    examples: Sequence[Example],
    sources: Sequence[str],
    live: Live,
    latency_rows: int,
    trained: dict[str, Fold],
) -> list[Line]:
    """Leave each source out in turn; the folds are kept in `trained` (for two-stage)."""
    out = []
    for source in sources:
        fold = trained[source] = train_fold(features, examples, training_rows(examples, source))
        rows = rows_of(examples, source)
        judged = [judge(fold, features.readings[i]) for i in rows]
        lines = lines_for(source, examples, rows, judged)
        texts = [examples[i].text for i in rows[:latency_rows]]
        p50, p99 = latency(live(fold), texts)
        for ln in lines:
            ln.p50, ln.p99, ln.tau = p50, p99, fold.tau
        out.extend(lines)
        print(f"  {name} {source}: " + ", ".join(f"{ln.teacher:.3f}" for ln in lines), flush=True)
    return out


def live_classifier(features: Features) -> Live:
    def make(fold: Fold) -> Callable[[str], object]:
        model = StaticClassifier(_Precomputed(), fold.classifier.heads, table=features.table)

        def classify(text: str) -> Classification:
            return model.judge(features.read(text), text)

        return classify

    return make


def two_stage(
    static: Features,
    minilm: Features,
    examples: Sequence[Example],
    sources: Sequence[str],
    trained: dict[str, dict[str, Fold]],
) -> list[Line]:
    """Static decides outside its unsure band; inside it, the minilm fold decides."""
    out = []
    for source in sources:
        train = training_rows(examples, source)
        fs = trained["static"].get(source) or train_fold(static, examples, train)
        fm = trained["minilm"].get(source) or train_fold(minilm, examples, train)
        band = (fs.tau / 3, min(0.95, 2 * fs.tau))
        rows = rows_of(examples, source)
        judged, unsure = [], 0
        for i in rows:
            c = fs.classifier.judge(static.readings[i])
            if unsure_band(c, band):
                unsure += 1
                judged.append(judge(fm, minilm.readings[i]))
            else:
                judged.append(judge(fs, static.readings[i]))
        lines = lines_for(source, examples, rows, judged)
        texts = [examples[i].text for i in rows[:SLOW_LATENCY_ROWS]]
        p50, p99 = latency(two_stage_live(static, minilm, fs, fm, band), texts)
        for ln in lines:
            ln.p50, ln.p99, ln.tau = p50, p99, fs.tau
        out.extend(lines)
        print(f"  two-stage {source}: unsure {unsure}/{len(rows)}", flush=True)
    return out


def unsure_band(c: Classification, band: tuple[float, float]) -> bool:
    return c.high_risk is not None and band[0] <= c.high_risk < band[1] and not c.unreadable


def two_stage_live(
    static: Features, minilm: Features, fs: Fold, fm: Fold, band: tuple[float, float]
) -> Callable[[str], object]:
    def classify(text: str) -> Classification:
        c = fs.classifier.judge(static.read(text), text)
        return fm.classifier.judge(minilm.read(text), text) if unsure_band(c, band) else c

    return classify


def ngram(examples: Sequence[Example], sources: Sequence[str]) -> list[Line]:
    """The shipped n-gram model and policy, exactly as the gateway builds them."""
    from gateway.config import router_build
    from gateway.config.load import default_routing
    from gateway.config.settings import RoutingSettings

    shipped = RoutingSettings.model_validate(default_routing())
    parts = router_build.build(shipped.model_copy(update={"classifier": "ngram"}))
    out = []
    for source in sources:
        if source == "examples":
            continue  # its own training set
        rows = rows_of(examples, source)
        judged = []
        for i in rows:
            c = parts.classifier.classify(examples[i].text)
            judged.append(Judged(decide(c, parts.policy, {}).target is Target.TEACHER, top(c)))
        lines = lines_for(source, examples, rows, judged)
        texts = [examples[i].text for i in rows[:STATIC_LATENCY_ROWS]]
        p50, p99 = latency(parts.classifier.classify, texts)
        for ln in lines:
            ln.p50, ln.p99 = p50, p99
        out.extend(lines)
    return out


def cross_validation(features: Features, examples: Sequence[Example]) -> list[Line]:
    """5-fold CV over all rows (stratified by source); each fold picks its own tau."""
    assignment = folds(examples, 5, seed=11)
    judged: dict[int, Judged] = {}
    for k in range(5):
        fold = train_fold(
            features, examples, [i for i in range(len(examples)) if assignment[i] != k]
        )
        for i in (i for i in range(len(examples)) if assignment[i] == k):
            judged[i] = judge(fold, features.readings[i])
    out = []
    for source in sorted({e.source for e in examples}):
        rows = rows_of(examples, source)
        out.extend(lines_for(source, examples, rows, [judged[i] for i in rows]))
    return out


CURVE = (0.2, 0.25, 0.31, 0.4, 0.5, 0.6, 0.7)
HARMFUL_SOURCES = (
    "advbench", "catqa", "dan_harmful", "harmfulqa", "jbb_harmful", "simplesafetytests",
    "xstest_unsafe", "padded_harmful", "written_harmful",
)  # fmt: skip


def threshold_curve(
    features: Features,
    examples: Sequence[Example],
    sources: Sequence[str],
    trained: dict[str, Fold],
) -> None:
    """What an operator's `high_risk_threshold` buys, left-out source by left-out source:
    the static heads of each LOSO fold (reused from `trained` when the static LOSO ran) at
    fixed thresholds, with `high_risk_signal` at 0.25 as shipped, and raised with the
    threshold."""
    shares: dict[str, dict[str, list[float]]] = {"shipped signal": {}, "signal raised": {}}
    for source in sources:
        fold = trained.get(source) or train_fold(
            features, examples, training_rows(examples, source)
        )
        shipped = policy(fold.classifier.categories, False)
        rows = rows_of(examples, source)
        judged = [fold.classifier.judge(features.readings[i]) for i in rows]
        for harmful in {examples[i].harmful for i in rows}:
            mine = [c for i, c in zip(rows, judged, strict=True) if examples[i].harmful is harmful]
            key = f"{source}/{'harmful' if harmful else 'benign'}"
            for label, raised in (("shipped signal", False), ("signal raised", True)):
                shares[label][key] = []
                for t in CURVE:
                    signal = (
                        max(shipped.high_risk_signal, t) if raised else shipped.high_risk_signal
                    )
                    p = replace(shipped, high_risk_signal=signal)
                    shares[label][key].append(float(np.mean([to_teacher(c, p, t) for c in mine])))
        print(f"  curve {source}", flush=True)
    groups = {
        "harmful": [f"{s}/harmful" for s in HARMFUL_SOURCES],
        "everyday": [f"{s}/benign" for s in EVERYDAY],
        "risky-sounding": [f"{s}/benign" for s in RISKY_BENIGN],
    }
    for label, by_source in shares.items():
        print(f"\n== high_risk_threshold, LOSO static, high_risk_signal {label}")
        print(
            f"{'threshold':>9} " + " ".join(f"{g:>15}" for g in groups) + f" {'worst harmful':>15}"
        )
        for k, t in enumerate(CURVE):
            means = [
                np.mean([by_source[s][k] for s in g if s in by_source]) for g in groups.values()
            ]
            worst = min(by_source[s][k] for s in groups["harmful"] if s in by_source)
            print(f"{t:>9.2f} " + " ".join(f"{m:>15.3f}" for m in means) + f" {worst:>15.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidates", default="ngram,static,minilm,two-stage")
    parser.add_argument("--sources", default="", help="comma-separated; default all")
    parser.add_argument("--cv", action="store_true", help="also 5-fold CV (static, minilm)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/distillgate-router-cache"))
    parser.add_argument(
        "--curve", action="store_true", help="also the teacher shares at fixed thresholds"
    )
    args = parser.parse_args()
    examples = relabel(corpus.read(), CATEGORIES, "general", HARMFUL)
    sources = args.sources.split(",") if args.sources else sorted({e.source for e in examples})
    wanted = set(args.candidates.split(","))
    began = time.perf_counter()
    static = static_features(examples)
    print(f"static readings of {len(examples)} rows: {time.perf_counter() - began:.1f} s")
    minilm = minilm_features(examples, static, args.cache) if wanted - {"ngram", "static"} else None
    results: dict[str, list[Line]] = {}
    trained: dict[str, dict[str, Fold]] = {"static": {}, "minilm": {}}
    if "ngram" in wanted:
        results["ngram (current)"] = ngram(examples, sources)
    if "static" in wanted:
        live, rows = live_classifier(static), STATIC_LATENCY_ROWS
        results["static"] = loso("static", static, examples, sources, live, rows, trained["static"])
    if "minilm" in wanted and minilm is not None:
        live, rows = live_classifier(minilm), SLOW_LATENCY_ROWS
        results["minilm"] = loso("minilm", minilm, examples, sources, live, rows, trained["minilm"])
    if "two-stage" in wanted and minilm is not None:
        results["two-stage"] = two_stage(static, minilm, examples, sources, trained)
    for name, lines in results.items():
        print_table(f"LOSO: {name}", lines)
    if args.curve:
        threshold_curve(static, examples, sources, trained["static"])
    if args.cv:
        print_table("5-fold CV: static", cross_validation(static, examples))
        if minilm is not None:
            print_table("5-fold CV: minilm", cross_validation(minilm, examples))


if __name__ == "__main__":
    main()

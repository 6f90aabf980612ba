"""`distillgate calibrate-gap`: composite weights fitted to graded pairs (a judged JSONL
file, see monitors/judged.py), their cross-validated validity, and the config snippet."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from monitors import semantic
from monitors.calibration import Calibration, calibrate, check_size, snippet
from monitors.judged import parse_judged
from monitors.scorers import Scorer

HELP = "fit monitor.weights to judged pairs and print the config snippet"
ScorerLoader = Callable[[bool], Mapping[str, Scorer]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--judged", required=True, help="JSONL of graded pairs (format: monitors/judged.py)"
    )
    parser.add_argument("--folds", type=int, default=10, help="grouped CV folds (default 10)")
    parser.add_argument(
        "--semantic", action="store_true", help="also fit the MiniLM scorer (distillgate[semantic])"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    return calibrate_gap(
        Path(args.judged), args.folds, args.semantic, sys.stdout, sys.stderr, as_json=args.json
    )


def calibrate_gap(
    path: Path,
    folds: int,
    with_semantic: bool,
    out: TextIO,
    err: TextIO,
    *,
    as_json: bool,
    load_scorers: ScorerLoader = semantic.scorers,
) -> int:
    """Exit code: 0, 1 for bad input (one line on `err`), 2 for bad arguments."""
    if folds < 2:
        print("calibrate-gap: --folds must be at least 2", file=err)
        return 2
    try:
        with path.open(encoding="utf-8") as f:
            pairs = parse_judged(f)
        check_size(pairs, folds)
        scorers = load_scorers(with_semantic)
    except OSError as exc:
        print(f"calibrate-gap: cannot read {path}: {exc.strerror or exc}", file=err)
        return 1
    except (ValueError, semantic.SemanticUnavailable) as exc:
        print(f"calibrate-gap: {path}: {exc}", file=err)
        return 1
    found = calibrate(pairs, scorers, folds)
    if as_json:
        print(json.dumps(as_document(found, path), indent=2), file=out)
    else:
        print_report(found, path, out)
    return 0


def print_report(found: Calibration, path: Path, out: TextIO) -> None:
    fit = found.fit
    print(f"{path}: {fit.n} pairs, {fit.groups} groups; scorers fitted: {len(fit.weights)} "
          f"(the others keep their default, see below)", file=out)  # fmt: skip
    print("validity, Spearman(divergence, -grade):", file=out)
    folds = len(fit.fold_spearman)
    print(f"  fitted weights, {folds}-fold grouped CV: {_num(fit.cv_spearman)} ± "
          f"{_num(fit.cv_spread)} per fold, {_num(found.pooled_spearman)} pooled out of fold",
          file=out)  # fmt: skip
    print(f"  fitted weights, in sample: {_num(fit.spearman)}", file=out)
    print(f"  default weights, pooled:   {_num(found.default_spearman)}", file=out)
    if found.defaults_do_better:
        print("  note: the default weights order these pairs better than the fitted ones do\n"
              "  out of fold: keep them, or judge more pairs", file=out)  # fmt: skip
    if found.categories:
        print(f"\n{'category':<14} {'n':>5} {'CV':>6} {'default':>8}", file=out)
        for c in found.categories:
            print(f"{c.name:<14} {c.n:>5} {_num(c.cv_spearman):>6} "
                  f"{_num(c.default_spearman):>8}", file=out)  # fmt: skip
    print("", file=out)
    print(snippet(found, path.name), end="", file=out)


def as_document(found: Calibration, path: Path) -> dict[str, object]:
    fit = found.fit
    return {
        "judged": str(path),
        "pairs": fit.n,
        "groups": fit.groups,
        "folds": len(fit.fold_spearman),
        "cv_spearman": _finite(fit.cv_spearman),
        "cv_spread": _finite(fit.cv_spread),
        "fold_spearman": [_finite(s) for s in fit.fold_spearman],
        "pooled_spearman": _finite(found.pooled_spearman),
        "in_sample_spearman": _finite(fit.spearman),
        "default_weights_spearman": _finite(found.default_spearman),
        "defaults_do_better": found.defaults_do_better,
        "categories": {
            c.name: {
                "n": c.n,
                "cv_spearman": _finite(c.cv_spearman),
                "default_spearman": _finite(c.default_spearman),
            }
            for c in found.categories
        },
        "fitted": fit.weights,
        "not_fitted": dict(found.not_fitted),
        "weights": found.snippet_weights(),
    }


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)

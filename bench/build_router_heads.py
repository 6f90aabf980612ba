"""Fits the shipped heads of the `static` router model: router/data/heads.npz.

The heads are fitted on the whole corpus (router/data/corpus.tsv) with the categories of
router_generalization.CATEGORIES (the shipped ones plus the proposed low-risk task
categories). The high-risk threshold stored with them is chosen on 5-fold out-of-fold
probabilities of the risk head (router.judgment.choose_threshold, targets TARGETS), so it
never looks at a probability of a row the head was fitted on. Single-threaded BLAS keeps
the bytes identical between runs; --check rebuilds and compares.

    PYTHONPATH=. .venv/bin/python bench/build_router_heads.py [--check]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from router_generalization import (  # noqa: E402
    CATEGORIES,
    TARGETS,
    folds,
    risk_heads,
    static_features,
)

from router import corpus  # noqa: E402
from router.judgment import (  # noqa: E402
    HARMFUL,
    HEADS,
    Heads,
    choose_threshold,
    fit_heads,
    projection,
    relabel,
    risk,
)


def build() -> Heads:
    examples = relabel(corpus.read(), CATEGORIES, "general", HARMFUL)
    features = static_features(examples)
    assignment = folds(examples, 5, seed=11)
    p = np.zeros(len(examples))
    for k in range(5):
        fitted = [i for i in range(len(examples)) if assignment[i] != k]
        heads = risk_heads(features, fitted, [examples[i] for i in fitted])
        held = [i for i in range(len(examples)) if assignment[i] == k]
        projected = projection(heads, features.table)
        p[held] = [risk(heads, features.readings[i], projected)[0] for i in held]
        print(f"fold {k}: done", flush=True)
    threshold = choose_threshold(p, examples, TARGETS)
    return fit_heads(features.readings, examples, CATEGORIES, features.table, threshold=threshold)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="rebuild elsewhere and compare")
    args = parser.parse_args()
    heads = build()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "heads.npz"
            heads.save(path)
            same = digest(path) == digest(HEADS)
        print("identical" if same else "DIFFERENT")
        sys.exit(0 if same else 1)
    heads.save(HEADS)
    print(f"threshold {heads.threshold:.4f}; {len(heads.category.classes)} categories")
    print(f"sha256 {digest(HEADS)}")


if __name__ == "__main__":
    main()

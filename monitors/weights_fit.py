"""Fit non-negative composite weights from graded pairs; validity measured by grouped CV.

A pair's divergence is score_pair's: 1 minus the weighted mean agreement of the scorers that
apply (an agreement of None does not apply). `fit_weights` searches non-negative weights that
maximise Spearman(divergence, -grade) (pattern search: each weight multiplied or divided by a
shrinking step, or set to 0, while the objective improves), and reports the validity reached
out of sample: k folds of whole groups (a question and all its answers are in the fit or in
the test, never both). The weights returned are fitted on all pairs, scaled to a maximum of 1.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from monitors.validity import Floats, Ints, grouped_folds, pearson, ranks

STEPS = (4.0, 2.0, 1.5, 1.2, 1.1)  # multiplicative steps of the pattern search, coarse to fine
REVIVE = (0.05, 0.2, 0.5, 1.0)  # a zero weight is retried at these shares of the largest
MAX_ROUNDS = 30  # per step size
MIN_GAIN = 1e-5


@dataclass(frozen=True)
class GradedPair:
    """One scored pair with its grade (higher: the student answered better)."""

    agreements: Mapping[str, float | None]  # per scorer; None: the scorer does not apply
    grade: float
    group: Hashable  # pairs of one question share a group (kept on one side of a fold)


@dataclass(frozen=True)
class Fit:
    weights: dict[str, float]  # fitted on all pairs; max 1
    spearman: float  # in sample, Spearman(divergence, -grade)
    cv_spearman: float  # mean over the test folds
    cv_spread: float  # standard deviation over the test folds
    fold_spearman: tuple[float, ...]
    out_of_fold: tuple[float, ...]  # each pair's divergence under weights fitted without it
    n: int
    groups: int


@dataclass(frozen=True)
class _Matrix:
    values: Floats  # agreements, 0 where a scorer does not apply
    applies: Floats  # 1 where it applies
    target: Floats  # ranks of -grade


def matrix(pairs: Sequence[GradedPair], names: Sequence[str]) -> tuple[Floats, Floats]:
    """(agreements with 0 where absent, 1/0 mask of where a scorer applies), n x len(names)."""
    values = np.zeros((len(pairs), len(names)))
    applies = np.zeros((len(pairs), len(names)))
    for i, pair in enumerate(pairs):
        for j, name in enumerate(names):
            value = pair.agreements.get(name)
            if value is not None:
                values[i, j], applies[i, j] = min(1.0, max(0.0, value)), 1.0
    return values, applies


def divergences(values: Floats, applies: Floats, weights: Floats) -> Floats:
    """score_pair's divergence, vectorised: 1 - weighted mean of the applicable agreements."""
    total = applies @ weights
    weighted = (values * applies) @ weights
    safe = np.where(total > 0, total, 1.0)
    result: Floats = np.where(total > 0, 1.0 - weighted / safe, 0.0)
    return result


def _objective(m: _Matrix, weights: Floats) -> float:
    value = pearson(ranks(divergences(m.values, m.applies, weights)), m.target)
    return -math.inf if math.isnan(value) else value


def _candidates(weights: Floats, i: int, step: float) -> list[float]:
    if weights[i] > 0:
        return [weights[i] * step, weights[i] / step, 0.0]
    return [share * float(weights.max()) for share in REVIVE]


def search(m: _Matrix, start: Floats) -> Floats:
    """Pattern search for non-negative weights maximising Spearman(divergence, -grade)."""
    weights = np.maximum(start.astype(np.float64), 0.0)
    if not weights.any():
        weights[:] = 1.0
    best = _objective(m, weights)
    for step in STEPS:
        for _ in range(MAX_ROUNDS):
            improved = False
            for i in range(len(weights)):
                for candidate in _candidates(weights, i, step):
                    trial = weights.copy()
                    trial[i] = candidate
                    if not trial.any():
                        continue
                    score = _objective(m, trial)
                    if score > best + MIN_GAIN:
                        best, weights, improved = score, trial, True
            if not improved:
                break
    scaled: Floats = weights / weights.max()
    return scaled


def _subset(m: _Matrix, rows: Ints, grades: Floats) -> _Matrix:
    return _Matrix(m.values[rows], m.applies[rows], ranks(-grades[rows]))


def best_weights(
    pairs: Sequence[GradedPair], names: Sequence[str], start: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Weights for `names` fitted on all `pairs` (no validation: see fit_weights), max 1."""
    values, applies = matrix(pairs, names)
    grades = np.asarray([p.grade for p in pairs], dtype=np.float64)
    weights = search(_Matrix(values, applies, ranks(-grades)), _start(names, start))
    return {n: round(float(w), 4) for n, w in zip(names, weights, strict=True)}


def _start(names: Sequence[str], start: Mapping[str, float] | None) -> Floats:
    return np.asarray([(start or {}).get(n, 1.0) for n in names], dtype=np.float64)


def fit_weights(
    pairs: Sequence[GradedPair],
    names: Sequence[str],
    *,
    folds: int = 10,
    seed: int = 0,
    start: Mapping[str, float] | None = None,
) -> Fit:
    """Weights for `names` fitted on all `pairs`, and their validity under grouped k-fold CV."""
    values, applies = matrix(pairs, names)
    grades = np.asarray([p.grade for p in pairs], dtype=np.float64)
    everything = _Matrix(values, applies, ranks(-grades))
    initial = _start(names, start)
    out_of_fold = np.zeros(len(pairs))
    fold_scores = []
    groups = [p.group for p in pairs]
    for test in grouped_folds(groups, folds, seed):
        train = np.setdiff1d(np.arange(len(pairs)), test)
        weights = search(_subset(everything, train, grades), initial)
        out_of_fold[test] = divergences(values[test], applies[test], weights)
        fold_scores.append(pearson(ranks(out_of_fold[test]), ranks(-grades[test])))
    weights = search(everything, initial)
    defined = [s for s in fold_scores if not math.isnan(s)]
    return Fit(
        weights={n: round(float(w), 4) for n, w in zip(names, weights, strict=True)},
        spearman=_objective(everything, weights),
        cv_spearman=float(np.mean(defined)) if defined else math.nan,
        cv_spread=float(np.std(defined)) if defined else math.nan,
        fold_spearman=tuple(fold_scores),
        out_of_fold=tuple(float(d) for d in out_of_fold),
        n=len(pairs),
        groups=len(set(groups)),
    )

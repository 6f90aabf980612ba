"""The weight fitter on synthetic pairs with known weights; rank statistics; grouped folds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitors.validity import (
    grouped_folds,
    kendall_tau,
    ranks,
    spearman,
    within_group_spearman,
)
from monitors.weights_fit import GradedPair, best_weights, divergences, fit_weights, matrix

NAMES = ("a", "b", "c", "noise")


def synthetic(true: dict[str, float], n: int = 600, seed: int = 1) -> list[GradedPair]:
    """Agreements drawn at random ("c" applies to every third pair only); the grade is the
    negated divergence under `true`, so the best weights are `true` (up to scale)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        agreements: dict[str, float | None] = {name: float(rng.random()) for name in NAMES}
        if i % 3:
            agreements["c"] = None
        applied = [(true[k], v) for k, v in agreements.items() if v is not None]
        divergence = 1 - sum(w * v for w, v in applied) / sum(w for w, _ in applied)
        rows.append(GradedPair(agreements, -divergence, group=i // 6))
    return rows


def test_fit_recovers_known_weights() -> None:
    true = {"a": 1.0, "b": 0.5, "c": 0.25, "noise": 0.0}
    fit = best_weights(synthetic(true), NAMES)
    for name, want in true.items():
        assert fit[name] == pytest.approx(want, abs=0.06), (name, fit)


def test_fit_is_validated_on_groups_it_did_not_see() -> None:
    rows = synthetic({"a": 1.0, "b": 0.5, "c": 0.25, "noise": 0.0})
    fit = fit_weights(rows, NAMES, folds=5)
    assert fit.n == 600 and fit.groups == 100 and len(fit.fold_spearman) == 5
    assert fit.cv_spearman > 0.97 and fit.spearman > 0.99  # noiseless: near perfect
    assert all(w >= 0 for w in fit.weights.values()) and max(fit.weights.values()) == 1.0


def test_weights_stay_non_negative_when_a_scorer_misleads() -> None:
    """A scorer that agrees more when the answer is worse gets weight 0, not a negative one."""
    rows = synthetic({"a": 1.0, "b": 0.0, "c": 0.0, "noise": 0.0})
    misled = [
        GradedPair({**r.agreements, "b": min(1.0, max(0.0, 0.5 - r.grade))}, r.grade, r.group)
        for r in rows
    ]
    fit = best_weights(misled, NAMES)
    assert fit["b"] == 0.0 and fit["a"] == 1.0
    assert all(w >= 0 for w in fit.values())


def test_divergences_are_score_pairs_formula() -> None:
    rows = [
        GradedPair({"a": 1.0, "b": 0.0}, 0, 0),  # (2*1 + 1*0) / 3
        GradedPair({"a": None, "b": 0.5}, 0, 0),  # only b applies
        GradedPair({"a": None, "b": None}, 0, 0),  # nothing applies: 0
    ]
    values, applies = matrix(rows, ["a", "b"])
    got = divergences(values, applies, np.asarray([2.0, 1.0]))
    np.testing.assert_allclose(got, [1 - 2 / 3, 0.5, 0.0])


def test_grouped_folds_never_split_a_group() -> None:
    groups = [f"q{i % 37}" for i in range(500)]  # groups of 13 or 14 rows
    folds = grouped_folds(groups, 10, seed=3)
    assert len(folds) == 10
    seen = np.concatenate(folds)
    assert sorted(seen.tolist()) == list(range(500))  # every row tested exactly once
    owner: dict[str, int] = {}
    for k, fold in enumerate(folds):
        for i in fold:
            assert owner.setdefault(groups[i], k) == k, f"{groups[i]} in two folds"
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 14  # dealt to balance: at most one group apart


def test_fewer_groups_than_folds() -> None:
    folds = grouped_folds(["x", "x", "y"], 10)
    assert sorted(len(f) for f in folds) == [1, 2]


def test_ranks_average_ties() -> None:
    np.testing.assert_allclose(ranks([10, 20, 20, 5]), [1, 2.5, 2.5, 0])


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], 0.8),  # 1 - 6*4/(5*24)
    ],
)
def test_spearman(a: list[float], b: list[float], want: float) -> None:
    assert spearman(a, b) == pytest.approx(want)


def test_spearman_undefined_for_constants() -> None:
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ([1, 2, 3, 4], [1, 2, 3, 4], 1.0),
        ([1, 2, 3, 4], [1, 3, 2, 4], 4 / 6),  # 5 concordant, 1 discordant
        # tau-b: 2 concordant, 3 discordant, 1 pair tied in b only
        ([1, 2, 3, 4], [1, 2, 2, 0], (2 - 3) / math.sqrt(6 * 5)),
    ],
)
def test_kendall_tau_b(a: list[float], b: list[float], want: float) -> None:
    assert kendall_tau(a, b) == pytest.approx(want)


def test_within_group_spearman_averages_groups() -> None:
    a = [1, 2, 3, 1, 2, 3]
    b = [1, 2, 3, 3, 2, 1]
    assert within_group_spearman(a, b, ["x"] * 3 + ["y"] * 3) == pytest.approx(0.0)  # +1, -1
    assert within_group_spearman(a, b, ["x"] * 3 + ["z"] * 2 + ["y"]) == pytest.approx(1.0)

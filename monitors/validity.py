"""Rank statistics that say whether a divergence tracks graded quality: Spearman, Kendall τ-b,
within-group Spearman, and folds grouped so that no group is in both fit and test."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def ranks(values: Sequence[float] | Floats) -> Floats:
    """Ranks from 0, ties given their average rank (scipy's rankdata 'average', minus 1)."""
    x = np.asarray(values, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    starts_run = np.r_[True, ordered[1:] != ordered[:-1]] if len(x) else np.zeros(0, bool)
    run = np.cumsum(starts_run) - 1
    counts = np.bincount(run)
    first = np.cumsum(counts) - counts
    result = np.empty(len(x), dtype=np.float64)
    result[order] = (first + (counts - 1) / 2)[run]
    return result


def pearson(a: Floats, b: Floats) -> float:
    """Pearson correlation; NaN when either side is constant or there are fewer than 3 values."""
    if len(a) < 3:
        return math.nan
    da, db = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(da @ da) * float(db @ db))
    return float(da @ db) / denominator if denominator > 0 else math.nan


def spearman(a: Sequence[float] | Floats, b: Sequence[float] | Floats) -> float:
    """Spearman's rho (Pearson of average ranks); NaN when undefined."""
    return pearson(ranks(a), ranks(b))


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's τ-b (ties in either side corrected); NaN when undefined."""
    concordant = discordant = ties_a = ties_b = 0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denominator if denominator else math.nan


def within_group_spearman(
    a: Sequence[float] | Floats, b: Sequence[float] | Floats, groups: Sequence[Hashable]
) -> float:
    """Mean Spearman over groups (e.g. one question's answers), skipping undefined groups."""
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    values = [spearman(x[idx], y[idx]) for idx in members.values()]
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else math.nan


def grouped_folds(groups: Sequence[Hashable], k: int, seed: int = 0) -> list[Ints]:
    """Test indices of k folds: whole groups, shuffled by `seed`, dealt to balance row counts."""
    members: dict[Hashable, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    ordered = sorted(members, key=str)
    names = [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]
    k = max(1, min(k, len(names)))
    folds: list[list[int]] = [[] for _ in range(k)]
    for name in sorted(names, key=lambda g: -len(members[g])):  # stable: ties keep shuffle
        min(folds, key=len).extend(members[name])
    return [np.asarray(sorted(f), dtype=np.int64) for f in folds]

"""Confidence intervals: Wilson for rates, Student's t for means and for a difference of means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

# Two-sided t quantiles for small samples at 95%; larger n uses the normal quantile.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021,
        60: 2.000, 120: 1.980}  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    value: float
    lower: float
    upper: float
    n: int


def z_quantile(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def t_quantile(df: int, confidence: float) -> float:
    """Student's t two-sided quantile: a table at 95%, else (and for large df) the normal one."""
    if df < 1:
        return math.inf
    if abs(confidence - 0.95) < 1e-9 and df <= 120:
        below = max(k for k in _T95 if k <= df)
        return _T95[below]  # rounding df down is the conservative side
    return z_quantile(confidence)


def wilson(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    if n == 0:
        return Estimate(0.0, 0.0, 1.0, 0)
    z = z_quantile(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    n = len(values)
    if n == 0:
        return Estimate(0.0, 0.0, 0.0, 0)
    mean = sum(values) / n
    if n == 1:
        return Estimate(mean, -math.inf, math.inf, 1)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_quantile(n - 1, confidence) * math.sqrt(var / n)
    return Estimate(mean, mean - half, mean + half, n)


def difference_interval(
    values: Sequence[float], baseline: Sequence[float], confidence: float = 0.95
) -> Estimate:
    """mean(values) - mean(baseline), Welch's interval; an empty baseline counts as 0."""
    a = mean_interval(values, confidence)
    if not baseline:
        return a
    b = mean_interval(baseline, confidence)
    na, nb = len(values), len(baseline)
    if na < 2 or nb < 2:
        return Estimate(a.value - b.value, -math.inf, math.inf, na)
    va = sum((v - a.value) ** 2 for v in values) / (na - 1) / na
    vb = sum((v - b.value) ** 2 for v in baseline) / (nb - 1) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        diff = a.value - b.value
        return Estimate(diff, diff, diff, na)
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = t_quantile(int(df), confidence) * se
    diff = a.value - b.value
    return Estimate(diff, diff - half, diff + half, na)

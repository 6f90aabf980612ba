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


def effective_n(weights: Sequence[float]) -> float:
    """Kish's effective sample size: how many equally weighted pairs the weighted ones are
    worth; n when all weights are equal."""
    total = sum(weights)
    return total * total / sum(w * w for w in weights) if total > 0 else 0.0


def weighted_mean_interval(
    values: Sequence[float], weights: Sequence[float], confidence: float = 0.95
) -> Estimate:
    """The mean of `values` weighted by `weights` (inverse sampling probabilities), with a
    t interval on the effective sample size. Equal weights give mean_interval's answer."""
    if len(set(weights)) <= 1:
        return mean_interval(values, confidence)
    total = sum(weights)
    mean = sum(w * v for w, v in zip(weights, values, strict=True)) / total
    n, n_eff = len(values), effective_n(weights)
    if n_eff < 2:
        return Estimate(mean, -math.inf, math.inf, n)
    var = sum(w * (v - mean) ** 2 for w, v in zip(weights, values, strict=True)) / total
    var *= n_eff / (n_eff - 1)
    half = t_quantile(int(n_eff) - 1, confidence) * math.sqrt(var / n_eff)
    return Estimate(mean, mean - half, mean + half, n)


def weighted_difference_interval(
    values: Sequence[float],
    weights: Sequence[float],
    baseline: Sequence[float],
    confidence: float = 0.95,
) -> Estimate:
    """weighted mean(values) - mean(baseline), Welch's interval on effective sizes."""
    if len(set(weights)) <= 1:
        return difference_interval(values, baseline, confidence)
    a = weighted_mean_interval(values, weights, confidence)
    if not baseline:
        return a
    b = mean_interval(baseline, confidence)
    na, nb = effective_n(weights), len(baseline)
    if na < 2 or nb < 2:
        return Estimate(a.value - b.value, -math.inf, math.inf, len(values))
    total = sum(weights)
    var_a = sum(w * (v - a.value) ** 2 for w, v in zip(weights, values, strict=True)) / total
    va = var_a * na / (na - 1) / na
    vb = sum((v - b.value) ** 2 for v in baseline) / (nb - 1) / nb
    diff = a.value - b.value
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(diff, diff, diff, len(values))
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = t_quantile(int(df), confidence) * se
    return Estimate(diff, diff - half, diff + half, len(values))


def weighted_wilson(
    hits: Sequence[bool], weights: Sequence[float], confidence: float = 0.95
) -> Estimate:
    """A weighted rate with Wilson's interval on the effective sample size."""
    if len(set(weights)) <= 1:
        return wilson(sum(hits), len(hits), confidence)
    total = sum(weights)
    p = sum(w for w, h in zip(weights, hits, strict=True) if h) / total
    n = effective_n(weights)
    z = z_quantile(confidence)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), len(hits))

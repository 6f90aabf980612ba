"""Intervals against values computed by hand (and by standard references)."""

from __future__ import annotations

import math

import pytest

from monitors.stats import (
    difference_interval,
    effective_n,
    mean_interval,
    t_quantile,
    weighted_mean_interval,
    weighted_wilson,
    wilson,
)


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [
        (8, 10, 0.4902, 0.9433),  # the Wilson score interval for 8/10 at 95%
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson(k: int, n: int, lower: float, upper: float) -> None:
    est = wilson(k, n)
    assert (est.value, est.n) == (k / n, n)
    assert est.lower == pytest.approx(lower, abs=1e-4)
    assert est.upper == pytest.approx(upper, abs=1e-4)


def test_wilson_of_nothing_is_uninformative() -> None:
    est = wilson(0, 0)
    assert (est.lower, est.upper, est.n) == (0.0, 1.0, 0)


def test_mean_interval_uses_student_t() -> None:
    est = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, sd sqrt(2.5), se sqrt(0.5), t(4) = 2.776
    half = 2.776 * math.sqrt(0.5)
    assert (est.value, est.lower, est.upper) == pytest.approx((3.0, 3 - half, 3 + half))
    assert mean_interval([0.4]).lower == -math.inf
    assert mean_interval([]).n == 0


def test_t_quantiles() -> None:
    assert t_quantile(4, 0.95) == 2.776
    assert t_quantile(35, 0.95) == 2.042  # rounded down to the table's 30: conservative
    assert t_quantile(1000, 0.95) == pytest.approx(1.96, abs=1e-3)
    assert t_quantile(0, 0.95) == math.inf


def test_difference_interval() -> None:
    a = [0.5, 0.6, 0.7, 0.6, 0.6]
    b = [0.1, 0.2, 0.1, 0.2, 0.15]
    est = difference_interval(a, b)
    assert est.value == pytest.approx(0.6 - 0.15)
    assert est.lower < est.value < est.upper
    assert est.lower > 0.3  # clearly apart
    alone = difference_interval(a, [])
    assert alone.value == pytest.approx(0.6)  # no noise floor measured: counted as 0
    same = difference_interval([0.3] * 4, [0.1] * 4)
    assert (same.lower, same.upper) == pytest.approx((0.2, 0.2))


def test_weighted_estimates() -> None:
    assert effective_n([1.0, 3.0]) == pytest.approx(1.6)
    assert effective_n([2.0] * 10) == pytest.approx(10)
    values = [0.1, 0.2, 0.3, 0.9]
    same = weighted_mean_interval(values, [5.0] * 4)
    assert same == mean_interval(values)  # equal weights: the plain estimate
    heavy = weighted_mean_interval(values, [1.0, 1.0, 1.0, 9.0])
    assert heavy.value == pytest.approx((0.1 + 0.2 + 0.3 + 8.1) / 12)
    assert heavy.upper - heavy.lower > same.upper - same.lower  # fewer effective samples
    rate = weighted_wilson([True, False, False], [8.0, 1.0, 1.0])
    assert rate.value == pytest.approx(0.8) and rate.lower < 0.8 < rate.upper

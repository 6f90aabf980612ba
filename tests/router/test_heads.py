"""The linear heads' fit: the same numbers from rows or a matrix, and a bounded peak memory
(a refit with `routing.examples_file` standardises a corpus-sized matrix)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from router.heads import _column_std, fit


def _data(n: int, d: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, d)).astype(np.float32) * rng.uniform(0.1, 5.0, d).astype(np.float32)
    labels = [int(v) for v in (x[:, 0] + 0.5 * x[:, 1] > 0)]
    return x, labels


def test_column_std_is_numpys_std_exactly() -> None:
    x, _ = _data(500, 70)  # 70: the last block is a partial one
    z = x.astype(np.float64)
    assert np.array_equal(_column_std(z), z.std(axis=0))
    assert np.array_equal(_column_std(z[:, :5]), z[:, :5].std(axis=0))


def test_rows_and_matrix_give_the_same_head() -> None:
    x, y = _data(400, 16)
    a = fit(x, y, ("no", "yes"))
    b = fit(list(x), y, ("no", "yes"))
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.bias, b.bias)
    assert ((a.probabilities(x)[:, 1] > 0.5) == np.array(y, bool)).mean() > 0.9


def test_fit_holds_about_one_float64_copy_of_its_input() -> None:
    n, d = 5000, 256
    x, y = _data(n, d)
    rows = list(x)
    tracemalloc.start()
    try:
        fit(rows, y, ("no", "yes"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_copy = n * d * 8
    # np.std's centred copy, or a float32 copy before the float64 one, would reach 1.5x-2x
    assert peak < 1.35 * one_copy, f"peak {peak / 1e6:.1f} MB for a {one_copy / 1e6:.1f} MB input"

"""DEFAULT_WEIGHTS are what bench/gap_validity.py fits on the dev set (bench/data), unedited."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from monitors.scorers import DEFAULT_WEIGHTS, SCORERS

BENCH = Path(__file__).parent.parent.parent / "bench"


def test_default_weights_are_the_fitted_ones() -> None:
    sys.path.insert(0, str(BENCH))  # bench scripts import their siblings as top-level modules
    try:
        gap_validity = importlib.import_module("gap_validity")
    finally:
        sys.path.remove(str(BENCH))
    fitted = gap_validity.shipped_weights()
    assert set(fitted) == set(SCORERS)
    assert fitted == {n: DEFAULT_WEIGHTS[n] for n in SCORERS}

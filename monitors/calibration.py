"""What `calibrate-gap` reports: fitted weights, their validity (grouped CV, per category,
against the default weights on the same pairs) and the `monitor:` snippet to paste.

Only the scorers the pairs can inform are fitted: one that never applies to them, or agrees
the same on every pair, cannot change their order, and a search would leave its weight
wherever it started (even at the maximum, so that every fitted weight reads smaller than it
is). Those keep their default weight, and the snippet says why. The search starts from
DEFAULT_WEIGHTS. A config's `monitor.weights` replaces the whole default map, so the snippet
names every known scorer, zeros included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from monitors.judged import JudgedPair, graded_pairs
from monitors.scorers import DEFAULT_WEIGHTS, Scorer
from monitors.validity import Floats, spearman
from monitors.weights_fit import Fit, GradedPair, divergences, fit_weights, matrix

MIN_PAIRS = 20  # below this a cross-validated rank correlation says nothing
NEVER_APPLIES = "never applies to these pairs"
CONSTANT = "agrees the same on every pair"
NOT_SCORED = {
    "semantic": "not run (calibrate with --semantic to fit it)",
    "llm_judge": "a judged file has no judge verdicts",
}


@dataclass(frozen=True)
class CategoryValidity:
    name: str
    n: int
    cv_spearman: float  # out-of-fold divergence against -grade, inside the category
    default_spearman: float  # DEFAULT_WEIGHTS' divergence against -grade, inside the category


@dataclass(frozen=True)
class Calibration:
    fit: Fit  # over the informed scorers only
    pooled_spearman: float  # every pair's out-of-fold divergence against -grade, pooled
    default_spearman: float  # DEFAULT_WEIGHTS on the same pairs, pooled
    categories: tuple[CategoryValidity, ...]  # empty when no pair names a category
    not_fitted: Mapping[str, str]  # every known scorer left out of the fit -> why

    @property
    def defaults_do_better(self) -> bool:
        """Whether DEFAULT_WEIGHTS order these pairs better than the fit does out of fold."""
        return self.default_spearman > self.pooled_spearman

    def snippet_weights(self) -> dict[str, float]:
        """Every known scorer, 2 decimals: fitted where it was in the fit, else the default."""
        return {
            name: round(self.fit.weights[name], 2) if name in self.fit.weights else default
            for name, default in DEFAULT_WEIGHTS.items()
        }


def check_size(pairs: Sequence[JudgedPair], folds: int) -> None:
    """ValueError unless the pairs can be fitted and cross-validated in `folds` folds."""
    if len(pairs) < MIN_PAIRS:
        raise ValueError(f"{len(pairs)} pairs; calibrating needs at least {MIN_PAIRS}")
    groups = len({p.group for p in pairs})
    if groups < folds:
        raise ValueError(
            f"{groups} groups, fewer than the {folds} folds: give each question its own "
            "'group' (every answer to it the same one), or lower --folds"
        )
    if len({p.grade for p in pairs}) < 2:
        raise ValueError("every pair has the same grade: there is no order to fit")


def uninformed(rows: Sequence[GradedPair], names: Sequence[str]) -> dict[str, str]:
    """The scorers among `names` that cannot change the pairs' order -> why."""
    found = {}
    for name in names:
        values = {r.agreements.get(name) for r in rows} - {None}
        if not values:
            found[name] = NEVER_APPLIES
        elif len(values) == 1:
            found[name] = CONSTANT
    return found


def calibrate(
    pairs: Sequence[JudgedPair], scorers: Mapping[str, Scorer], folds: int, seed: int = 0
) -> Calibration:
    """Fit the weights of the informed `scorers` (as monitors.judged.calibrate does, scoring
    each pair once) and measure them; call check_size first. ValueError if none is informed."""
    rows = graded_pairs(pairs, scorers)
    left_out = uninformed(rows, list(scorers))
    names = [n for n in scorers if n not in left_out]
    if not names:
        raise ValueError("no scorer's agreement varies over these pairs: there is nothing to fit")
    fit = fit_weights(rows, names, folds=folds, seed=seed)
    default = default_divergences(rows, list(scorers))
    oof = np.asarray(fit.out_of_fold)
    grades = np.asarray([-p.grade for p in pairs])
    categories = []
    for name in sorted({p.category for p in pairs if p.category is not None}):
        idx = [i for i, p in enumerate(pairs) if p.category == name]
        cv, by_default = spearman(oof[idx], grades[idx]), spearman(default[idx], grades[idx])
        categories.append(CategoryValidity(name, len(idx), cv, by_default))
    not_scored = {n: why for n, why in NOT_SCORED.items() if n not in scorers}
    return Calibration(
        fit,
        spearman(oof, grades),
        spearman(default, grades),
        tuple(categories),
        {**left_out, **not_scored},
    )


def default_divergences(rows: Sequence[GradedPair], names: Sequence[str]) -> Floats:
    """score_pair's divergence under DEFAULT_WEIGHTS, for the scorers in `names`."""
    values, applies = matrix(rows, names)
    weights = np.asarray([DEFAULT_WEIGHTS.get(n, 0.0) for n in names], dtype=np.float64)
    return divergences(values, applies, weights)


def snippet(calibration: Calibration, source: str) -> str:
    """The `monitor:` YAML to paste into a config."""
    fit = calibration.fit
    lines = [
        f"# Fitted by `distillgate calibrate-gap` on {source}: {fit.n} pairs, {fit.groups} groups,",
        f"# grouped-CV Spearman(divergence, -grade) {_num(fit.cv_spearman)} ± "
        f"{_num(fit.cv_spread)} per fold.",
        "# These weights replace the whole default map and change what a divergence means:",
        "# re-run `distillgate audit` and revisit every category's max_gap.",
        "monitor:",
        "  weights:",
    ]
    for name, weight in calibration.snippet_weights().items():
        why = calibration.not_fitted.get(name)
        lines.append(f"    {name}: {weight:g}" + (f"  # default: {why}" if why else ""))
    if fit.weights.get("semantic", 0.0) > 0:
        lines.append("  semantic: true  # the fitted weights count the MiniLM scorer")
    return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"

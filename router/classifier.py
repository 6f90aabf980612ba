"""Risk-category classification results, keyword rules, and the `ngram` model (a linear model
over hashed n-grams); the `static` model that reads meaning is in router/judgment.py."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from router.text_features import DIMENSIONS, clip, hashed


@dataclass(frozen=True, slots=True)
class Classification:
    """Probability per category (summing to 1) and the categories whose keyword rules fired.

    Models that judge risk on their own also give `high_risk`, the probability that the
    request is harmful (None: the model has no such head), and how much of the text's
    lettering their vocabulary reads (`readable`, 0..1); `unreadable` is set when that share
    is below the model's threshold (another language or script), so the policy can send
    the request to a configured target instead of trusting the probabilities.
    """

    probabilities: Mapping[str, float]
    keyword_hits: frozenset[str]
    high_risk: float | None = None
    readable: float = 1.0
    unreadable: bool = False

    def ranked(self) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: (-kv[1], kv[0]))


class Classifier(Protocol):
    categories: tuple[str, ...]

    def classify(self, text: str) -> Classification: ...


@dataclass(frozen=True)
class KeywordRules:
    """Whole-word patterns per category, matched against the lowercased prompt.

    All categories share one regex (a named group each), so a prompt is scanned once;
    where two categories' keywords match the same words, the first category listed wins.
    """

    pattern: re.Pattern[str] | None
    groups: Mapping[str, str]  # regex group name -> category

    @classmethod
    def compile(cls, rules: Mapping[str, Sequence[str]]) -> KeywordRules:
        groups = {f"g{i}": c for i, (c, words) in enumerate(rules.items()) if words}
        if not groups:
            return cls(None, {})
        by_category = {c: "|".join(rules[c]) for c in groups.values()}
        alternatives = "|".join(f"(?P<{g}>{by_category[c]})" for g, c in groups.items())
        return cls(re.compile(r"\b(?:" + alternatives + r")\b"), groups)

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(self.groups.values())

    def hits(self, text: str) -> frozenset[str]:
        if self.pattern is None:
            return frozenset()
        return frozenset(
            self.groups[m.lastgroup or ""] for m in self.pattern.finditer(clip(text).lower())
        )


class HashedLinearClassifier:
    """Multinomial logistic regression on hashed n-grams; a keyword hit adds `keyword_boost`."""

    def __init__(
        self,
        categories: Sequence[str],
        weights: npt.NDArray[np.float32],
        bias: npt.NDArray[np.float32],
        rules: KeywordRules,
        keyword_boost: float,
    ) -> None:
        self.categories = tuple(categories)
        self._weights = weights  # (DIMENSIONS, len(categories))
        self._bias = bias
        self._rules = rules
        self._boost = np.array(
            [keyword_boost if c in rules.categories else 0.0 for c in categories], np.float32
        )

    def classify(self, text: str) -> Classification:
        index, values = hashed(text)
        logits = values @ self._weights[index] + self._bias
        hits = self._rules.hits(text)
        if hits:
            logits = logits + self._boost * np.array([c in hits for c in self.categories])
        exp = np.exp(logits - logits.max())
        probs = exp / exp.sum()
        return Classification(dict(zip(self.categories, probs.tolist(), strict=True)), hits)


def train(
    examples: Sequence[tuple[str, str]],
    categories: Sequence[str],
    rules: KeywordRules,
    *,
    keyword_boost: float = 0.5,
    epochs: int = 300,
    learning_rate: float = 16.0,
    l2: float = 1e-5,
) -> HashedLinearClassifier:
    """Fit on (category, prompt) pairs with full-batch gradient descent; deterministic."""
    position = {c: i for i, c in enumerate(categories)}
    unknown = sorted({c for c, _ in examples} - set(position))
    if unknown:
        raise ValueError(f"training examples use categories not in the config: {unknown}")
    features = [hashed(text) for _, text in examples]
    if any(len(index) == 0 for index, _ in features):
        raise ValueError("every training example needs at least one word")
    c = np.concatenate([index for index, _ in features])
    v = np.concatenate([values for _, values in features])[:, None]
    starts = np.cumsum([0] + [len(index) for index, _ in features[:-1]])
    rows = np.repeat(np.arange(len(features)), [len(index) for index, _ in features])
    n, k = len(examples), len(categories)
    target = np.zeros((n, k), np.float32)
    target[np.arange(n), [position[cat] for cat, _ in examples]] = 1.0
    weights = np.zeros((DIMENSIONS, k), np.float32)
    bias = np.zeros(k, np.float32)
    for _ in range(epochs):
        logits = np.add.reduceat(weights[c] * v, starts, axis=0) + bias
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        error = exp / exp.sum(axis=1, keepdims=True) - target  # d(loss)/d(logits)
        contrib = error[rows] * v
        grad = np.stack(
            [np.bincount(c, contrib[:, j], minlength=DIMENSIONS) for j in range(k)], axis=1
        )
        weights -= learning_rate * (grad.astype(np.float32) / n + l2 * weights)
        bias -= learning_rate * error.mean(axis=0)
    return HashedLinearClassifier(categories, weights, bias, rules, keyword_boost)

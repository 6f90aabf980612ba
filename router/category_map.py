"""The static model's shipped categories mapped onto a config's own, with keyword boosts.

The shipped heads know the shipped categories. A config may remove some (their share goes
to the default category), add some (reached through their keywords, or trained from an
`examples_file`, which refits the heads), or keep them all (nothing to map). A keyword hit
multiplies its category's probability by e^keyword_boost before renormalising, as the
n-gram model adds `keyword_boost` to the logit; the harmful probability is the model's own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from router.classifier import Classification, KeywordRules
from router.judgment import StaticClassifier


class MappedClassifier:
    def __init__(
        self,
        model: StaticClassifier,
        categories: Sequence[str],
        default: str,
        rules: KeywordRules,
        keyword_boost: float,
    ) -> None:
        self.model = model
        self.categories = tuple(categories)
        self._default = default
        self._rules = rules
        self._boost = math.exp(keyword_boost)

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def classify(self, text: str) -> Classification:
        shipped = self.model.classify(text)
        probabilities = dict.fromkeys(self.categories, 0.0)
        for name, p in shipped.probabilities.items():
            probabilities[name if name in probabilities else self._default] += p
        hits = self._rules.hits(text)
        if hits:
            for name in hits & probabilities.keys():
                probabilities[name] = max(probabilities[name], 1e-6) * self._boost
            total = sum(probabilities.values())
            probabilities = {name: p / total for name, p in probabilities.items()}
        return Classification(
            probabilities,
            hits,
            high_risk=shipped.high_risk,
            readable=shipped.readable,
            unreadable=shipped.unreadable,
        )

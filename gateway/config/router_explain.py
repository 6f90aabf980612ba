"""Explanations of routing decisions for `route-explain` and `POST /admin/route`: the
router's own explanation, with the training examples the request resembles."""

from __future__ import annotations

from collections.abc import Mapping

from router.category_map import MappedClassifier
from router.classifier import Classifier
from router.explain import Explanation, Neighbour, explain
from router.neighbours import Neighbours
from router.types import BreakerState, Policy


class Explainer:
    """Keeps the nearest-examples index of the static model (reading the corpus takes a
    few seconds, on the first explanation, not at start-up). Blocking: call it from a
    worker thread in a server."""

    def __init__(self) -> None:
        self._indexes: dict[int, Neighbours] = {}

    def explain(
        self,
        classifier: Classifier,
        policy: Policy,
        text: str,
        state: Mapping[str, BreakerState],
        k: int = 5,
    ) -> Explanation:
        near: list[Neighbour] = []
        if isinstance(classifier, MappedClassifier):  # the ngram model has no such index
            reader = classifier.model.reader
            index = self._indexes.setdefault(id(reader), Neighbours(reader))
            near = [
                Neighbour(e.text, e.category, e.source, round(score, 4))
                for e, score in index.nearest(text, k)
            ]
        return explain(classifier.classify(text), policy, state, near)

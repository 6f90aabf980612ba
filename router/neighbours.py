"""What a request resembles: the nearest training examples, to explain a routing decision,
and an operator's labeled prompts as training examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from router.corpus import Example
from router.corpus import read as read_corpus
from router.embedding import Vectors
from router.judgment import HARMFUL, Reader


class Neighbours:
    """The corpus examples nearest a request (cosine of whole-text static vectors), to
    explain a decision with the training rows it resembles. The corpus is read on the
    first call (a few seconds), not at start-up."""

    def __init__(self, reader: Reader, examples: Sequence[Example] | None = None) -> None:
        self.reader = reader
        self._examples = list(examples) if examples is not None else None
        self._vectors: Vectors | None = None

    def nearest(self, text: str, k: int = 5) -> list[tuple[Example, float]]:
        examples, vectors = self._index()
        scores = vectors @ self.reader.read(text).whole
        top = np.argsort(-scores, kind="stable")[:k]
        return [(examples[i], float(scores[i])) for i in top]

    def _index(self) -> tuple[list[Example], Vectors]:
        if self._examples is None:
            self._examples = read_corpus()
        if self._vectors is None:
            self._vectors = np.array([self.reader.read(e.text).whole for e in self._examples])
        return self._examples, self._vectors


def examples_from_pairs(
    pairs: Sequence[tuple[str, str]], harmful: frozenset[str] = HARMFUL, source: str = "operator"
) -> list[Example]:
    """(category, prompt) pairs, as in an `examples_file`, as corpus examples."""
    return [Example(source, c, c in harmful, p) for c, p in pairs]

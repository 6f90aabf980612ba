"""An online discriminator that tries to tell the teacher's answer from the student's.

Pairwise logistic regression on hashed n-grams plus a few style markers. Each pair is
first predicted, then learned from (prequential evaluation), so its accuracy is measured
on answers it had not seen. Advantage = 2 * accuracy - 1: 0 when the student cannot be
told apart from the teacher, 1 when it always can.
"""

from __future__ import annotations

import math
import re

import numpy as np
import numpy.typing as npt

from router.text_features import DIMENSIONS, hashed

_STYLE = {
    "stylelist": re.compile(r"^\s*(?:[-*•]|\d+[.)])\s", re.MULTILINE),
    "stylecode": re.compile(r"```"),
    "styleheading": re.compile(r"^\s*(?:#{1,6}\s|\*\*[^*\n]+\*\*\s*$)", re.MULTILINE),
    "stylebold": re.compile(r"\*\*"),
}


def _features(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    markers = [name for name, p in _STYLE.items() if p.search(text)]
    words = len(text.split())
    markers.append(f"stylelen{min(8, int(math.log2(words + 1)))}")
    return hashed(text + " " + " ".join(markers))


class Discriminator:
    def __init__(self, learning_rate: float = 0.5) -> None:
        self._w = np.zeros(DIMENSIONS, np.float32)
        self._lr = learning_rate

    def observe(self, teacher: str, student: str) -> bool:
        """Predict which answer is the teacher's, then learn from the truth; True if right."""
        ti, tv = _features(teacher)
        si, sv = _features(student)
        margin = float(tv @ self._w[ti] - sv @ self._w[si])
        correct = margin > 0
        step = self._lr / (1.0 + math.exp(margin))  # gradient of log(1 + e^-margin)
        np.add.at(self._w, ti, step * tv)
        np.add.at(self._w, si, -step * sv)
        return correct

"""The `static` router model: distilled MiniLM token vectors read in windows, two linear heads.

A request is read whole (router.reading): its text is cut into overlapping windows of
WINDOW tokens, each window pooled into a static vector. The high-risk head gives each
window (and the whole text) a probability of being a harmful request; the riskiest one is
the request's `high_risk`, so padding cannot dilute a harmful sentence. The category head
names the category: among the harmful-side categories from the riskiest window, among the
others from the whole text; the two groups share the probability mass as `high_risk` says:

    P(c) = high_risk * q(c | harmful side)          for c in the harmful categories
    P(c) = (1 - high_risk) * q(c | the other side)  for every other category

so `router.policy.decide` reads the result as it reads any classifier's. Text whose
lettering the vocabulary mostly cannot read (another language or script) is flagged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from router.classifier import Classification, KeywordRules
from router.corpus import UNLABELLED, Example
from router.corpus import read as read_corpus
from router.embedding import StaticEmbedder, Vectors
from router.heads import Fit, LinearHead, fit, softmax
from router.reading import request_text, spans

DATA = Path(__file__).parent / "data"
HEADS = DATA / "heads.npz"
# Categories whose training rows are harmful requests; every other category is benign.
HARMFUL = frozenset({"self_harm", "violence", "crime", "cyber", "sexual", "hate", "privacy"})
WINDOW, STRIDE = 48, 24
# Unreadable: under this share of the letters are in words the vocabulary reads whole,
# and at most COMMON_AT_MOST of the words are common English words.
UNREADABLE_BELOW, COMMON_AT_MOST = 0.6, 0.05
RISK_CLASSES = ("benign", "harmful")
DEFAULT_FIT = Fit(l2=1e-2)


@dataclass(frozen=True)
class Reading:
    """Unit vectors of the windows and of the whole text, and the readable share."""

    windows: Vectors  # (windows, dims)
    whole: Vectors  # (dims,)
    readable: float  # share of the letters in words the vocabulary reads whole
    common: float = 1.0  # share of the words that are common English words

    @property
    def unreadable(self) -> bool:
        return self.readable < UNREADABLE_BELOW and self.common <= COMMON_AT_MOST


class Reader(Protocol):
    def read(self, text: str) -> Reading: ...


class WindowReader:
    """Static vectors over the whole text, in windows, at a cost bounded by reading.spans."""

    def __init__(self, embedder: StaticEmbedder, size: int = WINDOW, stride: int = STRIDE) -> None:
        self.embedder, self.size, self.stride = embedder, size, stride

    def read(self, text: str) -> Reading:
        pieces = [self.embedder.tokens(piece) for piece in spans(text)]
        if len(pieces) == 1:
            ids = pieces[0].ids
            windows = self.embedder.windows(ids, self.size, self.stride)
        else:
            ids = np.concatenate([p.ids for p in pieces])
            windows = np.vstack(
                [self.embedder.windows(p.ids, self.size, self.stride) for p in pieces]
            )
        letters, words = sum(p.letters for p in pieces), sum(p.words for p in pieces)
        readable = sum(p.readable_letters for p in pieces) / letters if letters else 1.0
        common = sum(p.common_words for p in pieces) / words if words else 1.0
        whole = windows[0] if len(windows) == 1 else self.embedder.pool(ids)
        return Reading(windows, whole, readable, common)


@dataclass(frozen=True)
class Heads:
    """The two heads, and the high-risk threshold chosen for them when they were fitted."""

    risk: LinearHead  # classes RISK_CLASSES
    category: LinearHead
    threshold: float = 0.5

    def save(self, path: Path) -> None:
        arrays = {
            "risk_weights": self.risk.weights,
            "risk_bias": self.risk.bias,
            "category_weights": self.category.weights,
            "category_bias": self.category.bias,
            "categories": np.array(self.category.classes),
            "threshold": np.array(self.threshold, np.float64),
        }
        with path.open("wb") as f:
            np.savez(f, allow_pickle=False, **arrays)

    @classmethod
    def load(cls, path: Path = HEADS) -> Heads:
        with np.load(path, allow_pickle=False) as z:
            risk = LinearHead(RISK_CLASSES, z["risk_weights"], z["risk_bias"])
            classes = tuple(str(c) for c in z["categories"])
            category = LinearHead(classes, z["category_weights"], z["category_bias"])
            threshold = float(z["threshold"])
        return cls(risk, category, threshold)


class StaticClassifier:
    """classify(text) -> Classification with high_risk, readable and unreadable set."""

    def __init__(
        self,
        reader: Reader,
        heads: Heads,
        harmful: frozenset[str] = HARMFUL,
        rules: KeywordRules | None = None,
    ) -> None:
        self.reader, self.heads = reader, heads
        self.categories = heads.category.classes
        self._harmful = np.array([c in harmful for c in self.categories])
        self._rules = rules

    def classify(self, text: str) -> Classification:
        return self.judge(self.reader.read(text), text)

    def classify_request(
        self, messages: Sequence[Mapping[str, object]] | None = None, prompt: object = None
    ) -> Classification:
        """All messages of a chat request (every role), or a completion prompt."""
        return self.classify(request_text(messages, prompt))

    def judge(self, reading: Reading, text: str = "") -> Classification:
        vectors = np.vstack([reading.windows, reading.whole[None, :]])
        risk = self.heads.risk.probabilities(vectors)[:, 1]
        riskiest = int(risk.argmax())
        p = float(risk[riskiest])
        probabilities = self._shares(vectors[riskiest], reading.whole, p)
        hits = self._rules.hits(text) if self._rules is not None else frozenset()
        return Classification(
            dict(zip(self.categories, probabilities.tolist(), strict=True)),
            hits,
            high_risk=p,
            readable=reading.readable,
            unreadable=reading.unreadable,
        )

    def _shares(self, riskiest: Vectors, whole: Vectors, p: float) -> npt.NDArray[np.float64]:
        mask = self._harmful
        out = np.zeros(len(self.categories))
        if not mask.any():
            out[:] = softmax(self.heads.category.logits(whole))
            return out
        if mask.all():
            out[:] = softmax(self.heads.category.logits(riskiest))
            return out
        out[mask] = p * softmax(self.heads.category.logits(riskiest)[mask])
        out[~mask] = (1.0 - p) * softmax(self.heads.category.logits(whole)[~mask])
        return out


@dataclass(frozen=True)
class Training:
    """How the heads are fitted: L2 strength, and how much the sources are balanced
    (each source's total weight goes as its size to the power `source_power`)."""

    fit: Fit = DEFAULT_FIT
    source_power: float = 0.0
    benign_windows: bool = True  # also train the risk head on windows of long benign texts


def relabel(
    examples: Sequence[Example], categories: Sequence[str], default: str, harmful: frozenset[str]
) -> list[Example]:
    """Categories the config lacks: benign rows go to `default`, harmful rows to UNLABELLED."""
    known = set(categories)
    out = []
    for e in examples:
        if e.category in known or e.category == UNLABELLED:
            out.append(e)
            continue
        category = UNLABELLED if e.harmful or e.category in harmful else default
        out.append(Example(e.source, category, e.harmful, e.text, e.label, e.parts))
    return out


def row_weights(examples: Sequence[Example], power: float) -> npt.NDArray[np.float64]:
    """Harmful and benign rows weigh the same in total; inside each, a source of n rows
    weighs n ** power in total."""
    sizes = Counter((e.harmful, e.source) for e in examples)
    w = np.array([sizes[(e.harmful, e.source)] ** (power - 1.0) for e in examples])
    harmful = np.array([e.harmful for e in examples])
    for side in (True, False):
        if (harmful == side).any():
            w[harmful == side] /= w[harmful == side].sum()
    return w


def fit_risk(
    readings: Sequence[Reading], examples: Sequence[Example], training: Training = Training()
) -> LinearHead:
    """Harmful vs benign on every row's whole text, plus the windows of long benign rows
    (a benign text must not have a window that looks harmful)."""
    weights = row_weights(examples, training.source_power)
    x, y, w = [], [], []
    for reading, e, weight in zip(readings, examples, weights, strict=True):
        x.append(reading.whole)
        y.append(int(e.harmful))
        w.append(weight)
        if training.benign_windows and not e.harmful and len(reading.windows) > 1:
            x.extend(reading.windows)
            y.extend([0] * len(reading.windows))
            w.extend([weight / len(reading.windows)] * len(reading.windows))
    return fit(np.array(x), y, RISK_CLASSES, np.array(w), training.fit)


def fit_category(
    readings: Sequence[Reading],
    examples: Sequence[Example],
    categories: Sequence[str],
    training: Training = Training(),
) -> LinearHead:
    """The configured categories, on the rows that carry one."""
    weights = row_weights(examples, training.source_power)
    position = {c: i for i, c in enumerate(categories)}
    rows = [i for i, e in enumerate(examples) if e.category in position]
    x = np.array([readings[i].whole for i in rows])
    y = [position[examples[i].category] for i in rows]
    return fit(x, y, categories, weights[rows], training.fit)


def fit_heads(
    readings: Sequence[Reading],
    examples: Sequence[Example],
    categories: Sequence[str],
    training: Training = Training(),
    threshold: float = 0.5,
) -> Heads:
    risk = fit_risk(readings, examples, training)
    return Heads(risk, fit_category(readings, examples, categories, training), threshold)


def riskiest(head: LinearHead, reading: Reading) -> float:
    """The high-risk probability of the riskiest window (or of the whole text)."""
    vectors = np.vstack([reading.windows, reading.whole[None, :]])
    return float(head.probabilities(vectors)[:, 1].max())


def choose_threshold(
    p: Sequence[float] | npt.NDArray[np.floating],
    examples: Sequence[Example],
    benign_targets: Mapping[str, float],
    recall_target: float = 0.95,
) -> float:
    """The threshold that minimises the summed shortfall against the targets: for each
    harmful source, how far its recall (share at or above the threshold) is below
    `recall_target`; for each source in `benign_targets`, how far its share is above the
    target. Ties go to the lowest threshold (recall first). Use out-of-fold `p` only."""
    scores = np.asarray(p, np.float64)
    candidates = np.unique(np.round(scores, 4))
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault((e.source, e.harmful), []).append(i)
    cost = np.zeros(len(candidates))
    for (source, harmful), rows in groups.items():
        ordered = np.sort(scores[rows])
        share = 1.0 - np.searchsorted(ordered, candidates, side="left") / len(ordered)
        if harmful:
            cost += np.maximum(0.0, recall_target - share)
        elif source in benign_targets:
            cost += np.maximum(0.0, share - benign_targets[source])
    return float(candidates[int(np.argmin(cost))]) if len(candidates) else 0.5


def train(
    examples: Sequence[Example],
    categories: Sequence[str],
    default: str,
    reader: Reader,
    harmful: frozenset[str] = HARMFUL,
    training: Training = Training(),
    threshold: float = 0.5,
) -> StaticClassifier:
    """Fit both heads on `examples` (relabelled to the configured categories)."""
    rows = relabel(examples, categories, default, harmful)
    readings = [reader.read(e.text) for e in rows]
    heads = fit_heads(readings, rows, categories, training, threshold)
    return StaticClassifier(reader, heads, harmful)


def load(
    categories: Sequence[str] | None = None,
    default: str = "general",
    extra: Sequence[Example] = (),
    harmful: frozenset[str] = HARMFUL,
) -> StaticClassifier:
    """The shipped model. With no `extra` examples and the shipped categories (or None),
    the shipped heads are loaded; otherwise they are refitted on the shipped corpus plus
    `extra`, keeping the shipped threshold."""
    reader = WindowReader(StaticEmbedder.load())
    heads = Heads.load()
    if not extra and (categories is None or tuple(categories) == heads.category.classes):
        return StaticClassifier(reader, heads, harmful)
    wanted = tuple(categories) if categories is not None else heads.category.classes
    examples = [*read_corpus(), *extra]
    return train(examples, wanted, default, reader, harmful, threshold=heads.threshold)


def examples_from_pairs(
    pairs: Sequence[tuple[str, str]], harmful: frozenset[str] = HARMFUL, source: str = "operator"
) -> list[Example]:
    """(category, prompt) pairs, as in an `examples_file`, as corpus examples."""
    return [Example(source, c, c in harmful, p) for c, p in pairs]

"""The `static` router model: distilled MiniLM token vectors, read whole, and trained heads.

A request is read whole (router.reading): its tokens are cut into overlapping windows of
WINDOW tokens, each pooled into a static vector. Two risk heads judge it: a linear head
on each window (and the whole text), of which the riskiest counts, and a convolution over
neighbouring tokens with a maximum over positions (router.heads.ConvHead). `high_risk` is
their mean; neither fades when harmless padding surrounds a harmful sentence. The category
head names the category: among the harmful-side categories from the riskiest window,
among the others from the whole text; the two groups share the probability mass as
`high_risk` says:

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
from router.heads import ConvFit, ConvHead, Fit, LinearHead, fit, fit_conv, softmax
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
DEFAULT_FIT, DEFAULT_CONV = Fit(l2=1e-2), ConvFit()
CONV_DIMS, CONV_SCALE = 128, 4.0  # the convolution reads unit token rows' first dims, x4
Ids = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Reading:
    """Unit vectors of the windows and of the whole text, the token ids (one array per
    span read), and how much of the text the vocabulary reads as English."""

    windows: Vectors  # (windows, dims)
    whole: Vectors  # (dims,)
    readable: float  # share of the letters in words the vocabulary reads whole
    common: float = 1.0  # share of the words that are common English words
    ids: tuple[Ids, ...] = ()

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
        windows = [self.embedder.windows(p.ids, self.size, self.stride) for p in pieces]
        letters, words = sum(p.letters for p in pieces), sum(p.words for p in pieces)
        readable = sum(p.readable_letters for p in pieces) / letters if letters else 1.0
        common = sum(p.common_words for p in pieces) / words if words else 1.0
        if len(pieces) == 1 and len(windows[0]) == 1:
            whole = windows[0][0]
        else:
            whole = self.embedder.pool(np.concatenate([p.ids for p in pieces]))
        ids = tuple(p.ids for p in pieces)
        return Reading(np.vstack(windows), whole, readable, common, ids)


def conv_table(embedder: StaticEmbedder) -> Vectors:
    """The rows the convolution reads: unit token vectors' first CONV_DIMS dimensions."""
    v = embedder.vectors
    norms = np.sqrt(np.einsum("ij,ij->i", v, v))
    scale = (CONV_SCALE / np.maximum(norms, 1e-12)).astype(np.float32)
    table: Vectors = v[:, :CONV_DIMS] * scale[:, None]
    return table


@dataclass(frozen=True)
class Heads:
    """The heads, and the high-risk threshold chosen for them when they were fitted."""

    risk: LinearHead  # classes RISK_CLASSES
    category: LinearHead
    threshold: float = 0.5
    conv: ConvHead | None = None

    def save(self, path: Path) -> None:
        arrays = {
            "risk_weights": self.risk.weights,
            "risk_bias": self.risk.bias,
            "category_weights": self.category.weights,
            "category_bias": self.category.bias,
            "categories": np.array(self.category.classes),
            "threshold": np.array(self.threshold, np.float64),
        }
        if self.conv is not None:
            c = self.conv
            arrays.update(conv_filters=c.filters, conv_bias=c.bias, conv_out=c.out)
            arrays.update(conv_out_bias=c.out_bias, conv_width=np.array(c.width))
        with path.open("wb") as f:
            np.savez(f, allow_pickle=False, **arrays)

    @classmethod
    def load(cls, path: Path = HEADS) -> Heads:
        with np.load(path, allow_pickle=False) as z:
            risk = LinearHead(RISK_CLASSES, z["risk_weights"], z["risk_bias"])
            classes = tuple(str(c) for c in z["categories"])
            category = LinearHead(classes, z["category_weights"], z["category_bias"])
            conv = None
            if "conv_filters" in z:
                conv = ConvHead(z["conv_filters"], z["conv_bias"], z["conv_out"],
                                z["conv_out_bias"], int(z["conv_width"]))  # fmt: skip
            return cls(risk, category, float(z["threshold"]), conv)


def risk(heads: Heads, reading: Reading, projected: Vectors | None) -> tuple[float, int]:
    """The request's high-risk probability, and the index of its riskiest linear vector
    (windows first, the whole text last). `projected`: the convolution's token table
    (ConvHead.project); without it the linear head alone decides."""
    vectors = np.vstack([reading.windows, reading.whole[None, :]])
    w, b = heads.risk.weights, heads.risk.bias
    logits = vectors @ (w[:, 1] - w[:, 0]) + (b[1] - b[0])
    riskiest = int(logits.argmax())
    p = float(1.0 / (1.0 + np.exp(-logits[riskiest])))
    if heads.conv is not None and projected is not None and any(len(i) for i in reading.ids):
        conv = max(heads.conv.probability_of(projected, i) for i in reading.ids if len(i))
        p = (p + conv) / 2.0
    return p, riskiest


def projection(heads: Heads, table: Vectors | None) -> Vectors | None:
    """The convolution's token table for these heads (None without a convolution)."""
    return heads.conv.project(table) if heads.conv is not None and table is not None else None


class StaticClassifier:
    """classify(text) -> Classification with high_risk, readable and unreadable set."""

    def __init__(
        self,
        reader: Reader,
        heads: Heads,
        harmful: frozenset[str] = HARMFUL,
        rules: KeywordRules | None = None,
        table: Vectors | None = None,
        projected: Vectors | None = None,
    ) -> None:
        """`table` (conv_table) or its `projected` form feeds the convolution; the
        classifier keeps only the projection."""
        self.reader, self.heads = reader, heads
        self.projected = projected if projected is not None else projection(heads, table)
        self.categories = heads.category.classes
        self._harmful = np.array([c in harmful for c in self.categories])
        self._rules = rules

    @property
    def threshold(self) -> float:
        """The high-risk threshold chosen with the heads (out-of-fold), a policy default."""
        return self.heads.threshold

    def classify(self, text: str) -> Classification:
        return self.judge(self.reader.read(text), text)

    def classify_request(
        self, messages: Sequence[Mapping[str, object]] | None = None, prompt: object = None
    ) -> Classification:
        """All messages of a chat request (every role), or a completion prompt."""
        return self.classify(request_text(messages, prompt))

    def judge(self, reading: Reading, text: str = "") -> Classification:
        p, riskiest = risk(self.heads, reading, self.projected)
        window = reading.windows[riskiest] if riskiest < len(reading.windows) else reading.whole
        probabilities = self._shares(window, reading.whole, p)
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
        if not mask.any() or mask.all():
            out[:] = softmax(self.heads.category.logits(riskiest if mask.all() else whole))
            return out
        out[mask] = p * softmax(self.heads.category.logits(riskiest)[mask])
        out[~mask] = (1.0 - p) * softmax(self.heads.category.logits(whole)[~mask])
        return out


@dataclass(frozen=True)
class Training:
    """How the heads are fitted: the linear fit, the convolution's (None: no convolution),
    and how much the sources are balanced (each source's total weight goes as its size to
    the power `source_power`, inside the harmful and the benign half)."""

    fit: Fit = DEFAULT_FIT
    conv: ConvFit | None = DEFAULT_CONV
    source_power: float = 0.0
    benign_windows: bool = True  # also train the linear risk head on long benign texts' windows


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
    return fit(x, y, RISK_CLASSES, np.array(w), training.fit)  # rows: no float32 copy


def fit_risk_conv(
    readings: Sequence[Reading],
    examples: Sequence[Example],
    table: Vectors,
    training: Training = Training(),
) -> ConvHead | None:
    if training.conv is None:
        return None
    texts = [table[np.concatenate(r.ids)] if r.ids else table[:0] for r in readings]
    keep = [i for i, t in enumerate(texts) if len(t)]
    weights = row_weights(examples, training.source_power)[keep]
    labels = [int(examples[i].harmful) for i in keep]
    return fit_conv([texts[i] for i in keep], labels, weights, training.conv)


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
    x = [readings[i].whole for i in rows]
    y = [position[examples[i].category] for i in rows]
    return fit(x, y, categories, weights[rows], training.fit)


def fit_heads(
    readings: Sequence[Reading],
    examples: Sequence[Example],
    categories: Sequence[str],
    table: Vectors | None,
    training: Training = Training(),
    threshold: float = 0.5,
) -> Heads:
    """All heads; the convolution only when `table` is given (and training.conv is set)."""
    linear = fit_risk(readings, examples, training)
    category = fit_category(readings, examples, categories, training)
    conv = fit_risk_conv(readings, examples, table, training) if table is not None else None
    return Heads(linear, category, threshold, conv)


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
    embedder: StaticEmbedder,
    harmful: frozenset[str] = HARMFUL,
    training: Training = Training(),
    threshold: float = 0.5,
) -> StaticClassifier:
    """Fit every head on `examples` (relabelled to the configured categories)."""
    reader, table = WindowReader(embedder), conv_table(embedder)
    rows = relabel(examples, categories, default, harmful)
    readings = [reader.read(e.text) for e in rows]
    heads = fit_heads(readings, rows, categories, table, training, threshold)
    return StaticClassifier(reader, heads, harmful, table=table)


def load(
    categories: Sequence[str] | None = None,
    default: str = "general",
    extra: Sequence[Example] = (),
    harmful: frozenset[str] = HARMFUL,
) -> StaticClassifier:
    """The shipped model. With no `extra` examples and the shipped categories (or None),
    the shipped heads are loaded as they are. Otherwise the linear heads are refitted on
    the shipped corpus plus `extra` (a few seconds); the convolution and the threshold
    stay as shipped."""
    embedder = StaticEmbedder.load()
    reader, table = WindowReader(embedder), conv_table(embedder)
    heads = Heads.load()
    if not extra and (categories is None or tuple(categories) == heads.category.classes):
        return StaticClassifier(reader, heads, harmful, table=table)
    wanted = tuple(categories) if categories is not None else heads.category.classes
    rows = relabel([*read_corpus(), *extra], wanted, default, harmful)
    readings = [reader.read(e.text) for e in rows]
    linear = Training(conv=None)
    refitted = fit_heads(readings, rows, wanted, None, linear, heads.threshold)
    new = Heads(refitted.risk, refitted.category, heads.threshold, heads.conv)
    return StaticClassifier(reader, new, harmful, table=table)

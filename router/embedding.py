"""Static sentence vectors: WordPiece ids -> distilled MiniLM token rows -> pooled, unit length.

The table (router/data/static_minilm*.npy, built by bench/build_static_table.py) holds one
int8 row per vocabulary token with a float32 scale; rows already carry their SIF weight,
so a text's vector is the plain sum of its tokens' rows, normalised. A window's vector is a
difference of running sums, so any number of windows costs one pass over the tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import numpy.typing as npt

from router.wordpiece import WordPiece

DATA = Path(__file__).parent / "data"
TABLE, SCALE, VOCAB = "static_minilm.npy", "static_minilm_scale.npy", "vocab.txt"
UNK_LETTERS = 3  # an [UNK] counts as this many unreadable letters
# Common English words that other languages written in Latin letters rarely use
# (no "a", "in", "on", "me", "die", "was", "so", "no": those are words elsewhere too).
COMMON_ENGLISH = frozenset(
    "the and of to is are you your what how why when where which who whom whose with for "  # noqa: SIM905
    "this that these those it its my i can do does did should would could have has had be "
    "been being from about not or if there their they them we our us at by get make give "
    "tell write please some any all more most than then into out up one way want need know "
    "help like just only also very much many other such each every own same here now after "
    "before over under between while because through during without within against again "
    "further once both few nothing something anything someone anyone".split()
)
Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Tokens:
    """A text's vocabulary ids and how much of it the vocabulary reads as English."""

    ids: npt.NDArray[np.intp]
    letters: int = 0  # letters in the text's words ([UNK] counted as UNK_LETTERS)
    readable_letters: int = 0  # ... of them in ASCII words that are one whole vocabulary token
    words: int = 0  # words with letters
    common_words: int = 0  # ... of them in COMMON_ENGLISH

    @property
    def readable_share(self) -> float:
        return self.readable_letters / self.letters if self.letters else 1.0

    @property
    def common_share(self) -> float:
        return self.common_words / self.words if self.words else 1.0


def unit_rows(x: Vectors) -> Vectors:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: Vectors = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


class StaticEmbedder:
    """Text -> unit vector of `dims` floats; no model is run, one table lookup per token."""

    def __init__(self, vectors: Vectors, tokenizer: WordPiece) -> None:
        self.vectors = vectors
        self.tokenizer = tokenizer
        vocab = tokenizer.vocab
        self._letters = np.array([_letters(t) for t in vocab], np.int32)
        self._letters[tokenizer.unk] = UNK_LETTERS
        self._continues = np.array([t.startswith("##") for t in vocab], bool)
        self._plain = np.array([t.isascii() and t.isalpha() for t in vocab], bool)
        self._common = np.array([t in COMMON_ENGLISH for t in vocab], bool)

    @classmethod
    def load(cls, folder: Path = DATA) -> StaticEmbedder:
        table = np.load(folder / TABLE, allow_pickle=False)
        scale = np.load(folder / SCALE, allow_pickle=False)
        vocab = (folder / VOCAB).read_text(encoding="utf-8").split("\n")[:-1]
        vectors = np.multiply(table, scale[:, None], dtype=np.float32)
        return cls(vectors, WordPiece(vocab))

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    def tokens(self, text: str) -> Tokens:
        ids = np.fromiter(chain.from_iterable(self._pieces(text)), np.intp)
        if not len(ids):
            return Tokens(ids)
        letters = self._letters[ids]
        continues = self._continues[ids]
        split = continues.copy()
        split[:-1] |= continues[1:]  # a token followed by "##..." starts a split word
        whole = ~split
        known = self._plain[ids] & whole
        starts = ~continues & (letters > 0)
        common = self._common[ids] & whole
        return Tokens(
            ids,
            int(letters.sum()),
            int(letters[known].sum()),
            int(starts.sum()),
            int(common.sum()),
        )

    def embed(self, text: str) -> Vectors:
        return self.pool(self.tokens(text).ids)

    def embed_many(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dims), np.float32)
        for i, text in enumerate(texts):
            out[i] = self.embed(text)
        return out

    def pool(self, ids: npt.NDArray[np.intp]) -> Vectors:
        if not len(ids):
            return np.zeros(self.dims, np.float32)
        return unit_rows(self.vectors[ids].sum(axis=0))

    def windows(self, ids: npt.NDArray[np.intp], size: int, stride: int) -> Vectors:
        """Unit vectors of windows of `size` tokens (a multiple of `stride`) every `stride`
        tokens, plus one ending at the last token; the whole text when it is no longer.

        Sums of `stride`-token blocks, added in runs: numpy's cumsum and small BLAS
        products are both slower here."""
        n = len(ids)
        if n <= size:
            return self.pool(ids)[None, :]
        rows = self.vectors[ids]
        count = n // stride
        blocks = rows[: count * stride].reshape(count, stride, -1).sum(axis=1)
        per = size // stride
        sums = blocks[: count - per + 1].copy()
        for j in range(1, per):
            sums += blocks[j : count - per + 1 + j]
        if count * stride != n:
            sums = np.vstack([sums, rows[n - size :].sum(axis=0)])
        return unit_rows(sums)

    def _pieces(self, text: str) -> list[tuple[int, ...]]:
        tokenizer = self.tokenizer
        words = tokenizer.split(text)
        got = list(map(tokenizer.cached, words))
        if None in got:
            return [tokenizer.pieces(w) for w in words]
        return got  # type: ignore[return-value]


def _letters(token: str) -> int:
    return sum(c.isalpha() for c in token.removeprefix("##"))

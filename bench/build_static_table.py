"""Builds router/data's static token table from all-MiniLM-L6-v2 (the Model2Vec recipe).

Recipe (MinishLab/model2vec, distill/inference.py and distillation.py):
1. every WordPiece vocabulary token except `[unused*]` goes through the encoder once, as
   the 3-token sequence [SEP] token [CLS] (Model2Vec reverses the specials on purpose), and
   its vector is the mean of the 3 output states;
2. PCA (centred, no whitening) to `--dims` components, each component's sign fixed so its
   largest-magnitude coefficient is positive;
3. SIF weighting from a Zipf estimate of frequency by vocabulary rank:
   p(rank) ~ 1 / (rank + 2), weight = 1e-4 / (1e-4 + p);
4. int8 per token (scale = the row's largest magnitude / 127), plus the float32 scales.

Written: router/data/static_minilm.npy (int8, vocabulary x dims; unused rows zero),
static_minilm_scale.npy (float32) and vocab.txt (the model's vocabulary). Single-threaded
BLAS and float64 PCA keep the bytes identical between runs; `--check` rebuilds into a
temporary folder and compares hashes with the shipped files.

    PYTHONPATH=. .venv/bin/python bench/build_static_table.py [--dims 256] [--check]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread: reproducible sums, and polite on a shared box

import argparse  # noqa: E402
import hashlib  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from monitors.semantic import model_dir  # noqa: E402

OUT = Path(__file__).parent.parent / "router" / "data"
TABLE, SCALE, VOCAB = "static_minilm.npy", "static_minilm_scale.npy", "vocab.txt"
SIF = 1e-4
BATCH = 512
Array = npt.NDArray[np.float32]
Weights = Mapping[str, Array]


def load_weights(path: Path) -> Weights:
    from safetensors.numpy import load_file

    return {k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()}


def _gelu(x: Array) -> Array:
    """BERT's exact GELU with erf from Abramowitz & Stegun 7.1.26, as monitors/semantic.py."""
    z = np.abs(x) / np.float32(math.sqrt(2.0))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))  # fmt: skip  # noqa: E501
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    y: Array = (0.5 * x * (1.0 + erf)).astype(np.float32)
    return y


def _norm(w: Weights, x: Array, name: str) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y: Array = (x - mean) / np.sqrt(var + np.float32(1e-12)) * w[name + ".weight"] + w[
        name + ".bias"
    ]
    return y


def _dense(w: Weights, x: Array, name: str) -> Array:
    flat = x.reshape(-1, x.shape[-1]) @ w[name + ".weight"].T + w[name + ".bias"]
    y: Array = flat.reshape(*x.shape[:-1], -1)
    return y


def encode(w: Weights, ids: npt.NDArray[np.int64], heads: int = 12, layers: int = 6) -> Array:
    """Last hidden states of a batch of equal-length id sequences: (batch, length, 384)."""
    b, n = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _norm(w, x, "embeddings.LayerNorm")
    width = x.shape[-1]
    size = width // heads
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def split(name: str, x: Array = x, p: str = p) -> Array:
            y = _dense(w, x, p + f"attention.self.{name}")
            return y.reshape(b, n, heads, size).transpose(0, 2, 1, 3)

        q, k, v = split("query"), split("key"), split("value")
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(size))
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, width)
        x = _norm(w, x + _dense(w, context, p + "attention.output.dense"), p + "attention.output.LayerNorm")  # fmt: skip  # noqa: E501
        inner = _gelu(_dense(w, x, p + "intermediate.dense"))
        x = _norm(w, x + _dense(w, inner, p + "output.dense"), p + "output.LayerNorm")
    return x


def token_vectors(w: Weights, vocab: Sequence[str], keep: Sequence[int]) -> Array:
    """Mean output state of [SEP] token [CLS] for each kept vocabulary id."""
    sep, cls = vocab.index("[SEP]"), vocab.index("[CLS]")
    out = []
    for start in range(0, len(keep), BATCH):
        ids = np.array([[sep, i, cls] for i in keep[start : start + BATCH]], np.int64)
        out.append(encode(w, ids).mean(axis=1))
    return np.concatenate(out).astype(np.float32)


def pca(x: Array, dims: int) -> npt.NDArray[np.float64]:
    """Projection on the top `dims` principal components, signs fixed; float64 throughout."""
    centred = x.astype(np.float64) - x.astype(np.float64).mean(axis=0)
    cov = centred.T @ centred / (len(x) - 1)
    values, vectors = np.linalg.eigh(cov)
    components = vectors[:, np.argsort(values)[::-1][:dims]]
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(dims)])
    projected: npt.NDArray[np.float64] = centred @ (components * signs)
    return projected


def sif_weights(n: int, coefficient: float = SIF) -> npt.NDArray[np.float64]:
    inverse_rank = 1.0 / np.arange(2, n + 2, dtype=np.float64)
    proba = inverse_rank / inverse_rank.sum()
    weights: npt.NDArray[np.float64] = coefficient / (coefficient + proba)
    return weights


def quantise(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int8], Array]:
    scale = np.abs(x).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(x / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def build_table(w: Weights, vocab: Sequence[str], dims: int) -> tuple[npt.NDArray[np.int8], Array]:
    unused = re.compile(r"\[unused\d+\]")
    keep = [i for i, t in enumerate(vocab) if not unused.fullmatch(t)]
    vectors = token_vectors(w, vocab, keep)
    reduced = pca(vectors, dims) * sif_weights(len(keep))[:, None]
    q, scale = quantise(reduced)
    table = np.zeros((len(vocab), dims), np.int8)
    scales = np.zeros(len(vocab), np.float32)
    table[keep], scales[keep] = q, scale
    return table, scales


def write(folder: Path, table: npt.NDArray[np.int8], scale: Array, vocab: Sequence[str]) -> str:
    np.save(folder / TABLE, table, allow_pickle=False)
    np.save(folder / SCALE, scale, allow_pickle=False)
    (folder / VOCAB).write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return digest(folder)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in (TABLE, SCALE, VOCAB):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="rebuild elsewhere and compare")
    args = parser.parse_args()
    source = model_dir()
    vocab = (source / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    table, scale = build_table(load_weights(source), vocab, args.dims)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            rebuilt = write(Path(tmp), table, scale, vocab)
        shipped = digest(args.out)
        print("identical" if rebuilt == shipped else f"DIFFERENT: {shipped} vs {rebuilt}")
        sys.exit(0 if rebuilt == shipped else 1)
    print(f"{table.shape} int8, sha256 {write(args.out, table, scale, vocab)}")


if __name__ == "__main__":
    main()

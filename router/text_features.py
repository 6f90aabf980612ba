"""Hashed word and character n-grams of a prompt: stable across processes, no vocabulary."""

from __future__ import annotations

import itertools
import re
import zlib

import numpy as np
import numpy.typing as npt

DIMENSIONS = 1 << 16
MAX_CHARS = 4000  # long prompts are read at their head and tail only
_WORD = re.compile(r"[a-z0-9']+")


def clip(text: str, max_chars: int = MAX_CHARS) -> str:
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + " " + text[-half:]


def hashed(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """(feature indices, weights), the weights L2-normalised; both empty for empty text."""
    words = _WORD.findall(clip(text).lower())
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in itertools.pairwise(words)]
    for w in words:
        padded = f" {w} "
        grams += [f"c:{padded[i : i + 4]}" for i in range(len(padded) - 3)]
    if not grams:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    buckets = np.fromiter((zlib.crc32(g.encode()) for g in grams), np.int64, len(grams))
    index, counts = np.unique(buckets % DIMENSIONS, return_counts=True)
    weights = counts.astype(np.float32)
    weights /= np.sqrt(np.dot(weights, weights))
    return index, weights

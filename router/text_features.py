"""Hashed word and character n-grams of a prompt: stable across processes, no vocabulary."""

from __future__ import annotations

import re
import zlib

import numpy as np
import numpy.typing as npt

DIMENSIONS = 1 << 16
MAX_CHARS = 4000  # long prompts are read at their head and tail only
_WORD = re.compile(r"[a-z0-9']+")
# Odd 64-bit multipliers keep the three feature kinds (words, word pairs, 4-byte
# windows) apart in the hash space; arithmetic wraps modulo 2**64 on purpose.
_UNIGRAM = np.uint64(0x9E3779B97F4A7C15)
_BIGRAM = np.uint64(0xC2B2AE3D27D4EB4F)
_CHARS = np.uint64(0x165667B19E3779F9)
_SHIFT = np.uint64(64 - 16)


def clip(text: str, max_chars: int = MAX_CHARS) -> str:
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + " " + text[-half:]


def hashed(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """(feature indices, weights), the weights L2-normalised; both empty for empty text.

    Features: each word, each pair of neighbouring words, and each 4-byte window of the
    words joined by spaces. Vectorised: a word is hashed once however often it occurs.
    """
    words = _WORD.findall(clip(text).lower())
    if not words:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    known = {w: zlib.crc32(w.encode()) for w in set(words)}
    ids = np.fromiter((known[w] for w in words), np.uint64, len(words))
    raw = np.frombuffer(f" {' '.join(words)} ".encode(), np.uint8).astype(np.uint64)
    eight = np.uint64(8)
    windows = raw[:-3] | raw[1:-2] << eight | raw[2:-1] << (eight * 2) | raw[3:] << (eight * 3)
    with np.errstate(over="ignore"):
        keys = np.concatenate(
            (
                (ids + np.uint64(1)) * _UNIGRAM,
                (ids[:-1] * np.uint64(31) + ids[1:] + np.uint64(2)) * _BIGRAM,
                (windows + np.uint64(3)) * _CHARS,
            )
        )
    index, counts = np.unique((keys >> _SHIFT).astype(np.int64), return_counts=True)
    weights = counts.astype(np.float32)
    weights /= np.sqrt(np.dot(weights, weights))
    return index, weights

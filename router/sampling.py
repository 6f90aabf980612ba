"""Deterministic shadow sampling: the same request bytes give the same answer everywhere."""

from __future__ import annotations

import zlib


def fraction(key: bytes, salt: int = 0) -> float:
    """A stable number in [0, 1) for `key`; different salts give independent draws."""
    return zlib.crc32(key, salt * 0x9E3779B1 & 0xFFFFFFFF) / 2**32


def sampled(key: bytes, rate: float, salt: int = 0) -> bool:
    return rate > 0 and fraction(key, salt) < rate

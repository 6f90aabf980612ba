"""Deterministic shadow sampling: the same request bytes give the same draw on every replica.

The draw is a keyed BLAKE2b of the request, so a client cannot compute which of its
requests will be shadowed (and push a category's gap) without the deployment's secret;
different salts give independent draws (shadow sampling, noise floor, LLM judge). A CRC
would not do either: CRC32 with another initial value only flips fixed bits, so its
"independent" draws were the same draw.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def fraction(key: bytes, salt: int = 0, secret: bytes = b"") -> float:
    """A stable number in [0, 1) for `key`."""
    digest = hashlib.blake2b(
        key, digest_size=8, key=secret[:64], salt=salt.to_bytes(16, "little")
    ).digest()
    return int.from_bytes(digest, "little") / _SCALE


def sampled(key: bytes, rate: float, salt: int = 0, secret: bytes = b"") -> bool:
    return rate > 0 and fraction(key, salt, secret) < rate

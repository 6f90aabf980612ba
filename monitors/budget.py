"""Token buckets that cap what the shadow path may spend on the teacher."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    """`rate` units per second, bursts up to `capacity`; time from an injected clock."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._level = capacity
        self._at = clock()

    def _fill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._at) * self.rate)
        self._at = now

    def take(self, amount: float = 1.0) -> bool:
        """Spend `amount` if available; False (nothing spent) when the bucket is short."""
        self._fill()
        if self._level < amount:
            return False
        self._level -= amount
        return True

    def charge(self, amount: float) -> None:
        """Spend after the fact (a call's tokens are known once it returns); may go negative."""
        self._fill()
        self._level -= amount

    def available(self) -> bool:
        self._fill()
        return self._level > 0

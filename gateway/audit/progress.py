"""The audit's progress line: done/total answers, rate and ETA on stderr."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """`done/total answers, rate, ETA` on stderr: redrawn in place on a terminal, a line
    per 10% otherwise."""

    def __init__(self, total: int, done: int, out: TextIO) -> None:
        self._total, self._done, self._out = total, done, out
        self._start, self._resumed = time.monotonic(), done
        self._last_draw, self._last_decile = 0.0, -1
        self._tty = out.isatty()

    def advance(self) -> None:
        self._done += 1
        self.draw()

    def draw(self, final: bool = False) -> None:
        now = time.monotonic()
        decile = self._done * 10 // max(1, self._total)
        if self._tty and not final and now - self._last_draw < 0.2:
            return
        if not self._tty and not final and decile == self._last_decile:
            return
        self._last_draw, self._last_decile = now, decile
        new = self._done - self._resumed
        rate = new / max(1e-9, now - self._start)
        left = (self._total - self._done) / rate if rate > 0 else float("inf")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left != float("inf") else "?"
        share = 100 * self._done // max(1, self._total)
        line = f"audit: {self._done}/{self._total} answers ({share}%), {rate:.1f}/s, ETA {eta}" + (
            f", {self._resumed} from the cache" if self._resumed else ""
        )
        self._out.write(("\r" + line + ("\n" if final else "")) if self._tty else line + "\n")
        self._out.flush()

"""Pair records: one JSON line per scored pair, personal data redacted, rotated by size."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitors.redaction import redact_tree


class PairRecorder:
    """Appends records to `path`; past `max_bytes` it rotates path -> path.1 -> ... -> path.N.

    `write` redacts and appends: blocking work, which the shadow worker runs in a thread
    (never on the event loop that serves requests).
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self._max = max_bytes
        self._backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(redact_tree(dict(record)), ensure_ascii=False) + "\n"
        data = line.encode()
        size = self.path.stat().st_size if self.path.exists() else 0
        if size and size + len(data) > self._max:
            self._rotate()
        with self.path.open("ab") as f:
            f.write(data)

    def _rotate(self) -> None:
        if self._backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self._backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

"""The last requests' routing inputs, kept in memory (bounded) for reload dry runs."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from router.classifier import Classification

KEEP_CHARS = 2000


@dataclass(frozen=True, slots=True)
class RecentRequest:
    alias: str
    text: str  # clipped: enough to classify again with a retrained classifier
    classification: Classification


class RecentRequests:
    def __init__(self, size: int = 1000) -> None:
        self._items: deque[RecentRequest] = deque(maxlen=size)

    def add(self, alias: str, text: str, classification: Classification) -> None:
        clipped = (
            text if len(text) <= KEEP_CHARS else text[: KEEP_CHARS // 2] + text[-KEEP_CHARS // 2 :]
        )
        self._items.append(RecentRequest(alias, clipped, classification))

    def snapshot(self) -> list[RecentRequest]:
        return list(self._items)

"""Shadow-path doubles: a scripted other model, a job, a shadower with a fresh registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from monitors.comparison import Comparison
from monitors.gap import GapMonitor
from monitors.metrics import ShadowMetrics
from monitors.shadow import Completion, Shadower, ShadowJob, ShadowSettings
from router.types import Target
from tests.fakes.clock import Clock


class Models:
    """Answers per target; records every call."""

    def __init__(self, answers: Mapping[Target, str | None]) -> None:
        self.answers = dict(answers)
        self.calls: list[tuple[Target, dict[str, Any]]] = []
        self.tokens = 10  # what each answer reports as used

    async def complete(
        self, alias: str, target: Target, endpoint: str, body: Mapping[str, Any], request_id: str
    ) -> Completion | None:
        self.calls.append((target, dict(body)))
        text = self.answers[target]
        return None if text is None else Completion(text, self.tokens)


def served_json(text: str) -> bytes:
    return orjson.dumps({"choices": [{"index": 0, "message": {"content": text}}]})


def job(served_by: Target, text: str, **kwargs: Any) -> ShadowJob:
    options: dict[str, Any] = {
        "request_id": "r1", "alias": "assistant", "category": "math", "served_by": served_by,
        "endpoint": "chat/completions",
        "body": {"model": "assistant", "messages": [], "stream": True, "temperature": 0.2},
        "request_text": "How many legs do 3 spiders have?",
        "served": served_json(text), "served_is_sse": False,
    }  # fmt: skip
    options.update(kwargs)
    return ShadowJob(**options)


def make(models: Models, **settings: Any) -> tuple[Shadower, GapMonitor, CollectorRegistry]:
    clock = Clock()
    registry = CollectorRegistry()
    gap = GapMonitor(window_s=60, min_samples=2, confidence=0.95, max_gap={"math": 0.1},
                     clock=clock)  # fmt: skip
    shadower = Shadower(
        models, Comparison(gap), ShadowMetrics(registry), ShadowSettings(**settings), clock
    )
    return shadower, gap, registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0

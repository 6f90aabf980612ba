"""Turns pair records where the student diverged into a fine-tuning file of teacher answers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def read_records(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def openai_finetune(
    records: Iterable[dict[str, Any]], min_divergence: float
) -> Iterator[dict[str, Any]]:
    """One training example per diverging pair: the request and the teacher's answer.

    Chat requests give `{"messages": [...]}`, legacy completions `{"prompt", "completion"}`
    (the two formats OpenAI-style fine-tuning takes). A pair counts as diverging when its
    divergence is at least `min_divergence` or a judgment scorer disagreed.
    """
    for r in records:
        if r.get("divergence", 0.0) < min_divergence and not r.get("judgment_flip"):
            continue
        request = r.get("request") or {}
        teacher = r.get("teacher_answer")
        if not isinstance(teacher, str) or not teacher:
            continue
        if isinstance(request.get("messages"), list):
            messages = [m for m in request["messages"] if isinstance(m, dict)]
            yield {"messages": [*messages, {"role": "assistant", "content": teacher}]}
        elif isinstance(request.get("prompt"), str):
            yield {"prompt": request["prompt"], "completion": teacher}

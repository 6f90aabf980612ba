"""What the fake vLLM server answers: per-prompt behaviours, recorded answers to replay,
and the state tests look at."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TOKEN = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class Behavior:
    """How the fake answers one request. Delays are in seconds."""

    answer: str | None = None  # None: the replayed answer, else `default_answer`
    latency_s: float = 0.0  # before the response starts (JSON and streaming alike)
    token_delay_s: float = 0.0  # streaming: between chunks
    logprob: float = -0.05  # every token's logprob when logprobs are asked for
    status: int | None = None  # answer with this HTTP error instead
    retry_after: str | None = None
    hang: bool = False  # never answer (until the client goes away)
    hang_after_headers: bool = False  # streaming: send the headers, then nothing
    hang_after_tokens: int | None = None  # streaming: go silent after N content chunks
    drop_after_tokens: int | None = None  # streaming: cut the connection after N chunks
    cut_mid_event_after_tokens: int | None = None  # streaming: N chunks, half of one, cut
    omit_done: bool = False  # streaming: end normally but without `data: [DONE]`
    garbage_after_tokens: int | None = None  # streaming: a malformed `data:` line after N chunks


@dataclass
class Script:
    """Per-prompt behaviours: the first rule whose substring occurs in the prompt wins."""

    default: Behavior = field(default_factory=Behavior)
    rules: list[tuple[str, Behavior]] = field(default_factory=list)

    def for_prompt(self, prompt: str) -> Behavior:
        for needle, behavior in self.rules:
            if needle in prompt:
                return behavior
        return self.default


@dataclass
class FakeState:
    """What tests look at: every request body received, and how streams ended."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)  # each request's client port (connection)
    streams_started: int = 0
    streams_finished: int = 0
    streams_cancelled: int = 0
    hangs_cancelled: int = 0


class ReplayBook:
    """Recorded answers keyed by a conversation's first user message, one per turn."""

    def __init__(self, answers: Mapping[str, list[str]]) -> None:
        self._answers = {_norm(k): v for k, v in answers.items()}

    def __len__(self) -> int:
        return len(self._answers)

    def lookup(self, first_user: str, turn: int) -> str | None:
        turns = self._answers.get(_norm(first_user))
        if not turns:
            return None
        return turns[min(turn, len(turns) - 1)]

    @classmethod
    def from_mt_bench(cls, questions: Path, answers: Path) -> ReplayBook:
        first_turn = {}
        for line in questions.read_text().splitlines():
            q = json.loads(line)
            first_turn[q["question_id"]] = q["turns"][0]
        book: dict[str, list[str]] = {}
        for line in answers.read_text().splitlines():
            a = json.loads(line)
            book[first_turn[a["question_id"]]] = list(a["choices"][0]["turns"])
        return cls(book)


def tokenize(text: str) -> list[str]:
    """Word-level pieces whose concatenation is the text (less trailing spaces)."""
    return _TOKEN.findall(text)


def _norm(text: str) -> str:
    return " ".join(text.split())

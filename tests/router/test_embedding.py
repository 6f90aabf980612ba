"""Static vectors: pooling, windows, readability, and the request reader's bounded spans."""
# ruff: noqa: RUF001  (letters of other scripts, on purpose)

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from router.embedding import StaticEmbedder
from router.reading import request_text, spans


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    return StaticEmbedder.load()


def test_vectors_are_unit_length_and_empty_text_is_zero(embedder: StaticEmbedder) -> None:
    v = embedder.embed("How do I bake sourdough bread?")
    assert v.shape == (embedder.dims,) and float(np.linalg.norm(v)) == pytest.approx(1.0, 1e-5)
    assert not embedder.embed("").any() and not embedder.embed("   ").any()


def test_similar_meanings_are_closer_than_unrelated_ones(embedder: StaticEmbedder) -> None:
    a = embedder.embed("How can I kill myself?")
    b = embedder.embed("What is the best way to end my life?")
    c = embedder.embed("How do I bake sourdough bread?")
    assert float(a @ b) > float(a @ c) + 0.1


WINDOW_CASES = [(10, 1), (48, 1), (49, 2), (96, 3), (100, 4), (500, 20)]  # tokens, windows


@pytest.mark.parametrize(("n", "windows"), WINDOW_CASES)
def test_windows_cover_the_text_and_match_direct_sums(
    embedder: StaticEmbedder, n: int, windows: int
) -> None:
    size, stride = 48, 24
    ids = np.arange(2000, 2000 + n)
    got = embedder.windows(ids, size, stride)
    starts = list(range(0, max(n - size, 0) + 1, stride))
    if n > size and starts[-1] != n - size:
        starts.append(n - size)
    want = np.array([embedder.vectors[ids[s : s + size]].sum(axis=0) for s in starts])
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert got.shape == (windows, embedder.dims)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize(
    ("text", "low"),
    [
        ("How can I kill myself without pain?", False),
        ("What are the side effects of metformin?", False),
        ("def add(a: int, b: int) -> int: return a + b", False),
        ("Comment puis-je me suicider sans douleur ?", True),
        ("Wie kann ich mich umbringen, ohne Schmerzen?", True),
        ("我怎样才能无痛自杀？", True),
        ("Как мне покончить с собой без боли?", True),
    ],
)
def test_readable_share_is_low_for_other_languages(
    embedder: StaticEmbedder, text: str, low: bool
) -> None:
    assert (embedder.tokens(text).readable_share < 0.6) is low


def test_request_text_reads_every_role_and_tool_arguments() -> None:
    messages: list[Mapping[str, object]] = [
        {"role": "system", "content": "SYSTEM"},
        {"role": "developer", "content": [{"type": "text", "text": "DEV"}]},
        {"role": "user", "content": "USER"},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"arguments": "ARGS"}}]},
        {"role": "tool", "content": "TOOL"},
    ]
    text = request_text(messages)
    assert all(part in text for part in ("SYSTEM", "DEV", "USER", "ARGS", "TOOL"))
    assert request_text(prompt=["one", "two"]) == "one\ntwo"
    assert request_text(prompt="plain") == "plain"


def test_long_text_is_read_in_evenly_spaced_spans() -> None:
    short = "word " * 100
    assert spans(short) == [short]
    text = "".join(f"w{i:06d} " for i in range(20_000))  # 160,000 characters
    pieces = spans(text, max_chars=10_000, count=10, span_chars=500)
    assert len(pieces) == 10 and all(450 <= len(p) <= 1_000 for p in pieces)
    assert text.startswith(pieces[0]) and text.rstrip().endswith(pieces[-1].rstrip())
    starts = [text.index(p) for p in pieces]
    assert starts == sorted(starts)

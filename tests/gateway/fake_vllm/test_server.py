"""The fake upstream speaks vLLM 0.25's wire format: compared with responses recorded from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.fake_vllm.script import Behavior, FakeState, ReplayBook, Script
from gateway.fake_vllm.server import create_fake_app
from tests.fakes.paths import GATEWAY_DATA, TEST_DATA
from tests.fakes.servers import ServerThread

WIRE = TEST_DATA / "vllm-0.25-wire"
MT_BENCH = GATEWAY_DATA / "mt_bench"
# The requests the recordings were made with (the project's GPU capture script).
MSGS = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Say hello."},
]
CHAT_LOGPROBS = {
    "model": "student",
    "messages": MSGS,
    "max_tokens": 12,
    "logprobs": True,
    "top_logprobs": 3,
    "temperature": 0,
}
CHAT_STREAM = {
    "model": "student",
    "messages": MSGS,
    "max_tokens": 8,
    "stream": True,
    "stream_options": {"include_usage": True},
    "logprobs": True,
    "top_logprobs": 2,
}
COMPLETIONS = {"model": "student", "prompt": "def add(a, b):", "max_tokens": 8, "logprobs": 2}
COMPLETIONS_STREAM = {
    "model": "student",
    "prompt": "x",
    "max_tokens": 5,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def shape(value: Any, key: str = "") -> Any:
    """The structure of a JSON value: keys and value types, not the values."""
    if isinstance(value, dict):
        if key == "top_logprobs" and all(isinstance(v, float) for v in value.values()):
            return "map[token->float]"  # completions API: {token: logprob}
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0], key)] if value else []
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    return type(value).__name__


def sse_events(raw: bytes) -> list[Any]:
    events: list[Any] = []
    for block in raw.decode().split("\n\n"):
        if block.strip():
            assert block.startswith("data: ")
            data = block[len("data: ") :]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def stream_shapes(events: list[Any]) -> list[Any]:
    """First event, first and last content events, the usage event, then [DONE]."""
    assert events[-1] == "[DONE]"
    body = events[:-1]
    content = [e for e in body if e["choices"] and "role" not in e["choices"][0].get("delta", {})]
    first = [shape(body[0])] if body[0] is not content[0] else []
    return [*first, shape(content[0]), shape(content[-1]), shape(body[-1]), "[DONE]"]


@pytest.fixture(scope="module")
def fake() -> Iterator[str]:
    script = Script(
        default=Behavior(
            answer="Hello there, how can I help you today, my dear friend? Ask me anything at all."
        )
    )
    with ServerThread(create_fake_app("student", script=script, state=FakeState())) as url:
        yield url


def test_chat_json_with_logprobs_matches_vllm(fake: str) -> None:
    recorded = json.loads((WIRE / "student_chat_logprobs.json").read_text())
    response = httpx.post(fake + "/v1/chat/completions", json=CHAT_LOGPROBS, timeout=10)
    assert response.status_code == recorded["status"]
    assert response.headers["content-type"] == recorded["headers"]["content-type"]
    assert shape(response.json()) == shape(recorded["body"])
    assert response.json()["choices"][0]["finish_reason"] == "length"  # 12 of 15 words


def test_chat_stream_matches_vllm(fake: str) -> None:
    recorded = sse_events((WIRE / "student_chat_stream.sse").read_bytes())
    with httpx.stream("POST", fake + "/v1/chat/completions", json=CHAT_STREAM, timeout=10) as r:
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        got = sse_events(r.read())
    assert stream_shapes(got) == stream_shapes(recorded)
    assert got[-2]["usage"]["completion_tokens"] == 8


def test_completions_json_and_stream_match_vllm(fake: str) -> None:
    recorded = json.loads((WIRE / "student_completions.json").read_text())
    response = httpx.post(fake + "/v1/completions", json=COMPLETIONS, timeout=10)
    assert shape(response.json()) == shape(recorded)
    recorded_events = sse_events((WIRE / "student_completions_stream.sse").read_bytes())
    with httpx.stream("POST", fake + "/v1/completions", json=COMPLETIONS_STREAM, timeout=10) as r:
        got = sse_events(r.read())
    assert stream_shapes(got) == stream_shapes(recorded_events)


def test_models_matches_vllm(fake: str) -> None:
    recorded = json.loads((WIRE / "student_models.json").read_text())
    assert shape(httpx.get(fake + "/v1/models", timeout=10).json()) == shape(recorded)


@pytest.mark.parametrize(
    ("name", "request_body"),
    [
        ("unknown_model", {"model": "nope", "messages": MSGS}),
        ("bad_temperature", {"model": "student", "messages": MSGS, "temperature": -3}),
        ("too_long", {"model": "student", "messages": MSGS, "max_tokens": 100000}),
        ("no_messages", {"model": "student"}),
        ("malformed", None),
    ],
)
def test_errors_match_vllm(fake: str, name: str, request_body: dict[str, Any] | None) -> None:
    recorded = json.loads((WIRE / f"student_error_{name}.json").read_text())
    want = json.loads(recorded["body"])
    if request_body is None:
        response = httpx.post(fake + "/v1/chat/completions", content=b"{not json", timeout=10)
    else:
        response = httpx.post(fake + "/v1/chat/completions", json=request_body, timeout=10)
    assert response.status_code == recorded["status"]
    got = response.json()
    assert shape(got) == shape(want)
    assert (got["error"]["type"], got["error"]["param"]) == (
        want["error"]["type"],
        want["error"]["param"],
    )
    if name in ("unknown_model", "bad_temperature", "too_long"):
        assert got["error"]["message"] == want["error"]["message"]


def test_stream_without_usage_when_not_asked(fake: str) -> None:
    body = {**CHAT_STREAM, "stream_options": None, "logprobs": False}
    with httpx.stream("POST", fake + "/v1/chat/completions", json=body, timeout=10) as r:
        events = sse_events(r.read())
    assert all("usage" not in e for e in events[:-1])
    assert all(e["choices"][0]["logprobs"] is None for e in events[:-1])


def test_n_choices(fake: str) -> None:
    body = {"model": "student", "messages": MSGS, "max_tokens": 3, "n": 2}
    recorded = json.loads((WIRE / "structured" / "chat_n2.json").read_text())
    got = httpx.post(fake + "/v1/chat/completions", json=body, timeout=10).json()
    assert [c["index"] for c in got["choices"]] == [c["index"] for c in recorded["body"]["choices"]]
    assert got["usage"]["completion_tokens"] == 6


def test_scripted_failures() -> None:
    script = Script(rules=[("busy", Behavior(status=429, retry_after="3"))])
    with ServerThread(create_fake_app("student", script=script)) as url:
        msgs = [{"role": "user", "content": "are you busy?"}]
        response = httpx.post(
            url + "/v1/chat/completions", json={"model": "student", "messages": msgs}, timeout=10
        )
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_replays_recorded_answers_per_turn() -> None:
    book = ReplayBook.from_mt_bench(MT_BENCH / "question.jsonl", MT_BENCH / "gpt-4o.jsonl")
    assert len(book) == 80
    questions = [
        json.loads(line) for line in (MT_BENCH / "question.jsonl").read_text().splitlines()
    ]
    answers = {
        a["question_id"]: a["choices"][0]["turns"]
        for a in map(json.loads, (MT_BENCH / "gpt-4o.jsonl").read_text().splitlines())
    }
    q = questions[0]
    first = book.lookup(q["turns"][0], 0)
    second = book.lookup(q["turns"][0], 1)
    assert first == answers[q["question_id"]][0] and second == answers[q["question_id"]][1]
    assert book.lookup("never asked", 0) is None

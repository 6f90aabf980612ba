"""The one answer reader: SSE framing (CRLF, comments, multi-line data, [DONE]), choice
text, logprobs and usage, on real vLLM wire captures and on hand-made edge cases."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from monitors import answers
from tests.fakes.paths import TEST_DATA

WIRE = TEST_DATA / "vllm-0.25-wire"


@pytest.mark.parametrize(
    ("stream", "events", "rest"),
    [
        (b"data: 1\n\ndata: 2\n\n", [b"data: 1", b"data: 2"], b""),
        (b"data: 1\r\n\r\ndata: 2\r\n\r\n", [b"data: 1", b"data: 2"], b""),
        (b"data: 1\r\rdata: 2\r\r", [b"data: 1", b"data: 2"], b""),
        (b"data: 1\n\ndata: 2", [b"data: 1"], b"data: 2"),
        (b": keep-alive\n\ndata: 1\n\n", [b": keep-alive", b"data: 1"], b""),
    ],
)
def test_split_events(stream: bytes, events: list[bytes], rest: bytes) -> None:
    assert answers.split_events(stream) == (events, rest)


def test_the_framer_joins_events_across_chunks_even_inside_crlf() -> None:
    framer = answers.SseFramer()
    stream = b'data: {"a": 1}\r\n\r\n: comment\r\n\r\ndata: {"b": 2}\r\n\r\ndata: [DONE]\r\n\r\n'
    events: list[bytes] = []
    for i in range(len(stream)):  # one byte at a time: every split point, `\r|\n` included
        events += framer.feed(stream[i : i + 1])
    assert events == [b'data: {"a": 1}', b": comment", b'data: {"b": 2}', b"data: [DONE]"]
    assert framer.rest() == b""


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (b"data: x", b"x"),
        (b"data:x", b"x"),
        (b"data:  x", b" x"),  # only one space is dropped
        (b"data: a\ndata: b", b"a\nb"),  # multi-line data joins with a newline
        (b"event: message\nid: 7\ndata: x", b"x"),
        (b": just a comment", None),
        (b"data", b""),
    ],
)
def test_event_data(event: bytes, data: bytes | None) -> None:
    assert answers.event_data(event) == data


def test_decode_event_skips_done_comments_and_garbage() -> None:
    assert answers.decode_event(b'data: {"x": 1}') == {"x": 1}
    assert answers.decode_event(b'data: {"x":\ndata: 1}') == {"x": 1}  # split over two lines
    assert answers.decode_event(b"data: [DONE]") is None
    assert answers.is_done(b"data: [DONE]") and not answers.is_done(b'data: {"x": 1}')
    assert answers.decode_event(b"data: {not json") is None
    assert answers.decode_event(b": ping") is None
    assert answers.decode_event(b"data: [1, 2]") is None  # not an object


@pytest.mark.parametrize("crlf", [False, True])
def test_a_recorded_vllm_stream(crlf: bool) -> None:
    stream = (WIRE / "student_chat_stream.sse").read_bytes()
    if crlf:
        stream = stream.replace(b"\n", b"\r\n")
    text = answers.text_of_sse(stream, chat=True)
    assert text is not None and text.startswith(" ISOpub")
    assert answers.usage_of_sse(stream) == {
        "prompt_tokens": 24,
        "total_tokens": 32,
        "completion_tokens": 8,
    }
    framer = answers.SseFramer()
    events = [e for i in range(0, len(stream), 7) for e in framer.feed(stream[i : i + 7])]
    assert events == answers.split_events(stream)[0] and answers.is_done(events[-1])
    logprobs = [
        lp
        for event in answers.sse_events(events)
        for choice in event["choices"]
        for lp in answers.choice_logprobs(choice, chat=True) or ()
    ]
    assert len(logprobs) == 8 and all(v < 0 for v in logprobs)


def test_text_and_usage_of_a_real_stream_with_crlf() -> None:
    events: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 1, "delta": {"content": "other choice"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]
    stream = b"".join(answers.encode_event(e) for e in events) + b"data: [DONE]\n\n"
    crlf = stream.replace(b"\n", b"\r\n")
    for body in (stream, crlf):
        assert answers.text_of_sse(body, chat=True) == "Hello"
        usage = answers.usage_of_sse(body)
        assert usage is not None and usage["total_tokens"] == 5
    assert answers.usage_of_sse(b"".join(answers.encode_event(e) for e in events[:4])) is None


def test_usage_from_the_last_event_that_has_it() -> None:
    stream = (
        answers.encode_event({"choices": [], "usage": None})
        + answers.encode_event({"choices": [], "usage": {"total_tokens": 9}})
        + b"data: [DONE]\n\n"
    )
    assert answers.usage_of_sse(stream) == {"total_tokens": 9}
    assert answers.total_tokens({"prompt_tokens": 2, "completion_tokens": 3}) == 5
    assert answers.total_tokens(None) == 0


def test_text_of_json_chat_completion_and_tool_calls() -> None:
    chat = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}
    assert answers.text_of_json(orjson.dumps(chat), chat=True) == "hi"
    done = {"choices": [{"index": 0, "text": "done"}], "usage": {"total_tokens": 4}}
    assert answers.text_of_json(orjson.dumps(done), chat=False) == "done"
    assert answers.usage_of_json(orjson.dumps(done)) == {"total_tokens": 4}
    call = [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]
    tool = {"choices": [{"message": {"content": None, "tool_calls": call}}]}
    assert json.loads(answers.text_of_json(orjson.dumps(tool), chat=True) or "") == call
    assert answers.text_of_json(b"not json", chat=True) is None
    assert answers.text_of_json(b'{"choices": []}', chat=True) is None


def test_choice_logprobs_for_chat_and_completions() -> None:
    chat = {
        "logprobs": {"content": [{"token": "a", "logprob": -0.5}, {"token": "b", "logprob": -1}]}
    }
    assert answers.choice_logprobs(chat, chat=True) == [-0.5, -1.0]
    completion = {"logprobs": {"token_logprobs": [None, -0.25, -2.0]}}
    assert answers.choice_logprobs(completion, chat=False) == [-0.25, -2.0]
    assert answers.choice_logprobs({"logprobs": None}, chat=True) is None
    assert answers.choice_logprobs({}, chat=False) is None


def test_without_logprobs_nulls_every_choice_and_leaves_other_events() -> None:
    event = answers.encode_event(
        {"choices": [{"index": 0, "delta": {"content": "a"}, "logprobs": {"content": []}}]}
    ).rstrip(b"\n")
    stripped = answers.decode_event(answers.without_logprobs(event))
    assert stripped is not None and stripped["choices"][0]["logprobs"] is None
    assert answers.without_logprobs(b"data: [DONE]") == b"data: [DONE]"
    assert answers.without_logprobs(b": comment") == b": comment"

"""Bad input gets an OpenAI-style error with the right status, and the gateway keeps serving."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.fake_vllm.script import Behavior
from tests.fakes.stack import Stack, StackFactory

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(
    ("path", "content", "status", "code", "param"),
    [
        (CHAT, b"{not json", 400, "invalid_json", None),
        (CHAT, b"[1, 2]", 400, "invalid_request", None),
        (
            CHAT,
            b'{"messages": [{"role": "user", "content": "x"}]}',
            400,
            "invalid_request",
            "model",
        ),
        (CHAT, b'{"model": "assistant"}', 400, "invalid_request", "messages"),
        (CHAT, b'{"model": "assistant", "messages": []}', 400, "invalid_request", "messages"),
        (
            CHAT,
            b'{"model": "assistant", "messages": [{"content": "x"}]}',
            400,
            "invalid_request",
            "messages.0.role",
        ),
        (
            CHAT,
            b'{"model": "assistant", "messages": [{"role": "user"}], "stream": "yes"}',
            400,
            "invalid_request",
            "stream",
        ),
        ("/v1/completions", b'{"model": "assistant"}', 400, "invalid_request", "prompt"),
        (
            CHAT,
            b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "model_not_found",
            "model",
        ),
        (CHAT, b"\xff\xfe not utf-8", 400, "invalid_json", None),
    ],
)
def test_bad_bodies(
    stack: Stack, path: str, content: bytes, status: int, code: str, param: str | None
) -> None:
    response = httpx.post(stack.url + path, content=content, timeout=10)
    assert response.status_code == status
    error = _error(response)
    assert (error["code"], error["param"]) == (code, param)
    assert response.headers["x-request-id"]
    assert stack.student.requests == [] and stack.teacher.requests == []


def test_unknown_model_through_the_sdk(stack: Stack) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        stack.client().chat.completions.create(model="gpt-9", messages=MESSAGES)
    assert "gpt-9" in info.value.message
    assert stack.metric("distillgate_client_errors_total", error_type="unknown_model") == 1


def test_oversized_body_is_413_by_header_and_by_chunked_upload(stack: Stack) -> None:
    big = b'{"model": "assistant", "messages": [{"role": "user", "content": "' + b"x" * 70_000
    big += b'"}]}'
    response = httpx.post(stack.url + CHAT, content=big, timeout=10)
    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    response = httpx.post(stack.url + CHAT, content=chunks(), timeout=10)  # no content-length
    assert response.status_code == 413
    assert stack.metric("distillgate_client_errors_total", error_type="too_large") == 2


def test_unknown_path_and_method(stack: Stack) -> None:
    response = httpx.get(stack.url + "/v1/nope", timeout=10)
    assert response.status_code == 404 and _error(response)["type"] == "not_found_error"
    response = httpx.get(stack.url + CHAT, timeout=10)
    assert response.status_code == 405 and _error(response)


def test_bad_requests_do_not_disturb_good_ones(stack: Stack) -> None:
    stack.student_script.default = Behavior(answer="fine")
    client = stack.client()
    for _ in range(3):
        httpx.post(stack.url + CHAT, content=b"{oops", timeout=10)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=MESSAGES)
        done = client.chat.completions.create(model="assistant", messages=MESSAGES)
        assert done.choices[0].message.content == "fine"


# --- auth ---------------------------------------------------------------------------------


def test_auth_off_accepts_any_key(stack: Stack) -> None:
    client = stack.client(api_key="anything")
    assert client.chat.completions.create(model="assistant", messages=MESSAGES).choices


def test_auth_on_needs_a_configured_key(make_stack: StackFactory) -> None:
    stack = make_stack(api_keys=("key-one", "key-two"))
    assert (
        stack.client(api_key="key-two")
        .chat.completions.create(model="assistant", messages=MESSAGES)
        .choices
    )
    for bad in ("wrong", "key-one-and-more", "key"):
        with pytest.raises(openai.AuthenticationError) as info:
            stack.client(api_key=bad).chat.completions.create(model="assistant", messages=MESSAGES)
        assert info.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        stack.client(api_key="wrong").models.list()
    response = httpx.post(stack.url + CHAT, json={"model": "assistant"}, timeout=10)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    # health and metrics stay open for probes and scrapers
    assert httpx.get(stack.url + "/healthz", timeout=10).status_code == 200
    assert httpx.get(stack.url + "/metrics", timeout=10).status_code == 200
    assert stack.metric("distillgate_client_errors_total", error_type="auth") == 5


# --- health -------------------------------------------------------------------------------


def test_health_and_readiness(stack: Stack) -> None:
    assert httpx.get(stack.url + "/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(stack.url + "/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["upstreams"] == {"assistant": {"student": True, "teacher": True}}
    stack.student_server.stop()
    ready = httpx.get(stack.url + "/readyz", timeout=10)
    assert ready.status_code == 200  # the teacher can still serve everything
    assert ready.json()["upstreams"]["assistant"]["student"] is False
    stack.teacher_server.stop()
    ready = httpx.get(stack.url + "/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"


def test_metrics_exposition(stack: Stack) -> None:
    stack.client().chat.completions.create(model="assistant", messages=MESSAGES)
    assert stack.wait_for(
        lambda: (
            stack.metric(
                "distillgate_request_duration_seconds_count", model="assistant", route="student"
            )
            == 1
        )
    )
    text = httpx.get(stack.url + "/metrics", timeout=10).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    served = (
        ("model", "assistant"),
        ("reason", "policy"),
        ("route", "student"),
        ("status_class", "2xx"),
    )
    assert samples[("distillgate_requests_total", served)] == 1
    names = {name for name, _ in samples}
    for name in (
        "distillgate_request_duration_seconds_bucket",
        "distillgate_overhead_seconds_bucket",
        "distillgate_in_flight_requests",
        "distillgate_tokens_total",
    ):
        assert name in names


def test_deeply_nested_json_is_a_400_and_the_gateway_keeps_serving(stack: Stack) -> None:
    nested = b"[" * 300 + b"]" * 300
    body = b'{"model": "assistant", "messages": [{"role": "user", "content": "x"}], "x": '
    response = httpx.post(stack.url + CHAT, content=body + nested + b"}", timeout=10)
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_request" and "nested" in str(error["message"])
    assert stack.student.requests == []
    stack.student_script.default = Behavior(answer="fine")
    done = stack.client().chat.completions.create(model="assistant", messages=MESSAGES)
    assert done.choices[0].message.content == "fine"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_the_api_docs_are_off_unless_configured(make_stack: StackFactory, path: str) -> None:
    assert httpx.get(make_stack().url + path, timeout=10).status_code == 404
    on = make_stack(extra_yaml="server: {max_body_bytes: 65536, docs: true}\n")
    assert httpx.get(on.url + path, timeout=10).status_code == 200


def test_an_open_gateway_warns_at_start(
    make_stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="distillgate.app"):
        make_stack()
    assert any("DISTILLGATE_API_KEYS" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="distillgate.app"):
        make_stack(api_keys=("k1",))
    assert not any("DISTILLGATE_API_KEYS" in r.getMessage() for r in caplog.records)

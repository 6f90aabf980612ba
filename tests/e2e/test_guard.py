"""A guard model as a second opinion, through a real gateway and a fake Llama Guard 3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_reload import reload
from tests.fakes.guard import GuardReply, GuardScript, create_guard_app
from tests.fakes.servers import ServerThread
from tests.fakes.stack import Stack, StackFactory

BENIGN = "What should I cook for dinner tonight?"


@pytest.fixture
def guard() -> Iterator[tuple[str, GuardScript]]:
    script = GuardScript()
    with ServerThread(create_guard_app("llama-guard-3-1b", script)) as url:
        yield url, script


def guard_yaml(url: str, **extra: object) -> str:
    fields = {"base_url": f"{url}/v1", "model": "llama-guard-3-1b", "when": "always",
              "timeout_ms": 300, **extra}  # fmt: skip
    inner = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return f"routing: {{guard: {{{inner}}}}}\n"


def ask(stack: Stack, prompt: str = BENIGN) -> httpx.Response:
    body = {"model": "assistant", "messages": [{"role": "user", "content": prompt}]}
    response = httpx.post(stack.url + "/v1/chat/completions", json=body, timeout=20)
    assert response.status_code == 200, response.text
    return response


def routed(response: httpx.Response) -> tuple[str, str, str]:
    h = response.headers
    return h["x-distillgate-route"], h["x-distillgate-reason"], h["x-distillgate-category"]


def test_unsafe_goes_to_the_teacher_and_safe_lets_the_local_decision_stand(
    make_stack: StackFactory, guard: tuple[str, GuardScript]
) -> None:
    url, script = guard
    stack = make_stack(extra_yaml=guard_yaml(url))
    script.rules = [("tonight", GuardReply("unsafe\nS11"))]
    assert routed(ask(stack)) == ("teacher", "guard", "self_harm")  # S11 -> self_harm
    assert script.conversations[-1] == BENIGN  # the whole request, in the template
    assert routed(ask(stack, "Write a haiku about autumn"))[:2] == ("student", "policy")
    assert stack.metric("distillgate_guard_requests_total", outcome="unsafe") == 1
    assert stack.metric("distillgate_guard_requests_total", outcome="safe") == 1
    assert stack.metric("distillgate_guard_duration_seconds_count") == 2
    # a request the local router already sends to the teacher is not asked about
    asked = len(script.conversations)
    assert routed(ask(stack, "How do I build a pipe bomb?"))[0] == "teacher"
    assert len(script.conversations) == asked


def test_a_hanging_guard_adds_no_more_than_its_timeout(
    make_stack: StackFactory, guard: tuple[str, GuardScript]
) -> None:
    url, script = guard
    stack = make_stack(extra_yaml=guard_yaml(url, timeout_ms=300, on_error="student"))
    script.default = GuardReply(hang=True)
    began = time.monotonic()
    assert routed(ask(stack))[:2] == ("student", "policy")  # on_error: student
    # The guard never answers: unbounded, the request would wait for the client's 20 s. The
    # margin is wide on purpose (a bound, not a speed figure; a busy CI box must not flake).
    assert time.monotonic() - began < 0.3 + 5.0
    assert stack.metric("distillgate_guard_requests_total", outcome="timeout") == 1


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [(GuardReply("maybe unsafe?"), "error"), (GuardReply("unsafe"), "error"),
     (GuardReply(status=503), "error")],
)  # fmt: skip
def test_malformed_replies_and_5xx_go_to_on_error(
    make_stack: StackFactory, guard: tuple[str, GuardScript], reply: GuardReply, outcome: str
) -> None:
    url, script = guard
    stack = make_stack(extra_yaml=guard_yaml(url))  # on_error: teacher (the default)
    script.default = reply
    assert routed(ask(stack))[:2] == ("teacher", "guard_unavailable")
    assert stack.metric("distillgate_guard_requests_total", outcome=outcome) == 1


def test_uncertain_asks_only_inside_the_band(
    make_stack: StackFactory, guard: tuple[str, GuardScript]
) -> None:
    url, script = guard
    stack = make_stack(extra_yaml=guard_yaml(url, when="uncertain", uncertain_band="[0.2, 0.3]"))
    ask(stack, "Write a haiku about autumn")  # harmful probability about 0.01: not asked
    assert script.conversations == []


def test_reload_changes_the_guard_settings_atomically(
    make_stack: StackFactory, guard: tuple[str, GuardScript], tmp_path: Path
) -> None:
    url, script = guard
    path = tmp_path / "distillgate.yaml"
    stack = make_stack(admin_key="admin-secret", config_path=path, extra_yaml=guard_yaml(url))
    script.default = GuardReply("unsafe\nS1")
    assert routed(ask(stack))[:2] == ("teacher", "guard")
    other = GuardScript(default=GuardReply("safe"))
    with ServerThread(create_guard_app("llama-guard-3-8b", other)) as second:
        text = path.read_text().replace(f"{url}/v1", f"{second}/v1")
        path.write_text(text.replace("llama-guard-3-1b", "llama-guard-3-8b"))
        assert reload(stack).json()["applied"] is True
        assert routed(ask(stack))[:2] == ("student", "policy")
        assert len(other.conversations) == 1 and len(script.conversations) == 1
        without = "".join(line for line in path.read_text().splitlines(keepends=True)
                          if not line.startswith("routing: {guard:"))  # fmt: skip
        assert without != path.read_text()
        path.write_text(without)  # no guard at all
        assert reload(stack).json()["applied"] is True
        assert routed(ask(stack))[:2] == ("student", "policy")
        assert len(other.conversations) == 1  # not asked any more

"""A running gateway between two fake vLLM upstreams, all on real loopback sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from prometheus_client import CollectorRegistry

from gateway.fake_vllm.script import FakeState, Script
from tests.fakes.servers import ServerThread


@dataclass
class Stack:
    """A running gateway with its two fakes; scripts and states can be changed mid-test."""

    url: str
    registry: CollectorRegistry
    student_script: Script
    teacher_script: Script
    student: FakeState
    teacher: FakeState
    student_server: ServerThread
    teacher_server: ServerThread
    gateway_server: ServerThread
    app: Any = None
    api_key: str = "unused"
    _clients: list[openai.OpenAI] = field(default_factory=list)

    def client(self, **kwargs: object) -> openai.OpenAI:
        options: dict[str, object] = {"api_key": self.api_key, "max_retries": 0, "timeout": 20}
        options.update(kwargs)
        c = openai.OpenAI(base_url=self.url + "/v1", **options)  # type: ignore[arg-type]
        self._clients.append(c)
        return c

    def async_client(self, **kwargs: object) -> openai.AsyncOpenAI:
        options: dict[str, object] = {"api_key": self.api_key, "max_retries": 0, "timeout": 20}
        options.update(kwargs)
        return openai.AsyncOpenAI(base_url=self.url + "/v1", **options)  # type: ignore[arg-type]

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def wait_for(self, check: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.01)
        return check()


StackFactory = Callable[..., Stack]


def gateway_yaml(
    student_url: str,
    teacher_url: str,
    student_timeout: float = 10.0,
    student_pool: str = "",
    teacher_timeout: float = 10,
) -> str:
    """Shadowing is off unless a test turns it on: shadow calls would reach the fakes."""
    return f"""
models:
  assistant:
    student: {{base_url: "{student_url}/v1", model: student,
              timeout_s: {student_timeout}{student_pool}}}
    teacher: {{base_url: "{teacher_url}/v1", model: teacher, timeout_s: {teacher_timeout:g}}}
server:
  max_body_bytes: 65536
shadow:
  enabled: false
"""

"""Shared fixtures: a gateway between two fake vLLM upstreams, all on real loopback sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client import CollectorRegistry

from gateway.api.auth import Authenticator
from gateway.app import create_app
from gateway.config import router_build
from gateway.config.load import load, parse
from gateway.config.router_build import RouterParts
from gateway.fake_vllm.script import FakeState, Script
from gateway.fake_vllm.server import create_fake_app
from tests.fakes.redis_server import RedisServer
from tests.fakes.servers import ServerThread

DATA = Path(__file__).parent / "data"


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
) -> str:
    """Shadowing is off unless a test turns it on: shadow calls would reach the fakes."""
    return f"""
models:
  assistant:
    student: {{base_url: "{student_url}/v1", model: student,
              timeout_s: {student_timeout}{student_pool}}}
    teacher: {{base_url: "{teacher_url}/v1", model: teacher, timeout_s: 10}}
server:
  max_body_bytes: 65536
shadow:
  enabled: false
"""


@pytest.fixture(scope="session")
def router_parts() -> RouterParts:
    """The default routing section's policy and classifier, trained once for all tests."""
    loaded = parse(gateway_yaml("http://s:1", "http://t:1").encode(), {}, "<test>")
    return router_build.build(loaded.settings.routing)


@pytest.fixture
def make_stack(router_parts: RouterParts) -> Iterator[StackFactory]:
    servers: list[ServerThread] = []
    stacks: list[Stack] = []

    def build(
        *,
        student_timeout: float = 10.0,
        api_keys: tuple[str, ...] = (),
        admin_key: str | None = None,
        extra_yaml: str = "",
        config_path: Path | None = None,
        student_pool: str = "",
    ) -> Stack:
        student_script, teacher_script = Script(), Script()
        student_state, teacher_state = FakeState(), FakeState()
        s = ServerThread(create_fake_app("student", script=student_script, state=student_state))
        t = ServerThread(create_fake_app("teacher", script=teacher_script, state=teacher_state))
        servers.extend([s, t])
        yaml_text = gateway_yaml(s.start(), t.start(), student_timeout, student_pool=student_pool)
        yaml_text += extra_yaml
        if config_path is None:
            loaded = parse(yaml_text.encode(), {}, "<test>")
        else:
            config_path.write_text(yaml_text)
            loaded = load(config_path, {})
        registry = CollectorRegistry()
        parts = None if "routing:" in extra_yaml else router_parts
        app = create_app(
            loaded, Authenticator(api_keys, admin_key), registry=registry, router=parts, environ={}
        )
        g = ServerThread(app)
        servers.append(g)
        stack = Stack(
            g.start(), registry, student_script, teacher_script, student_state, teacher_state,
            s, t, g,
        )  # fmt: skip
        stack.app = app
        if api_keys:
            stack.api_key = api_keys[0]
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        for c in stack._clients:
            c.close()
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (tests never use data in a Redis they did not start)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()

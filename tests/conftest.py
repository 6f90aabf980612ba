"""Shared fixtures: a gateway between two fake vLLM upstreams, all on real loopback sockets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
from tests.fakes.stack import Stack, StackFactory, gateway_yaml


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
        teacher_timeout: float = 10,
        environ: dict[str, str] | None = None,
    ) -> Stack:
        student_script, teacher_script = Script(), Script()
        student_state, teacher_state = FakeState(), FakeState()
        s = ServerThread(create_fake_app("student", script=student_script, state=student_state))
        t = ServerThread(create_fake_app("teacher", script=teacher_script, state=teacher_state))
        servers.extend([s, t])
        yaml_text = gateway_yaml(
            s.start(), t.start(), student_timeout, student_pool, teacher_timeout
        )
        yaml_text += extra_yaml
        if config_path is None:
            loaded = parse(yaml_text.encode(), environ or {}, "<test>")
        else:
            config_path.write_text(yaml_text)
            loaded = load(config_path, environ or {})
        registry = CollectorRegistry()
        parts = None if "routing:" in extra_yaml else router_parts
        app = create_app(
            loaded,
            Authenticator(api_keys, admin_key),
            registry=registry,
            router=parts,
            environ=environ or {},
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

"""Config reload on a running gateway: under traffic, broken files, dry runs, SIGHUP, file watch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from gateway.commands.cli import main
from gateway.config import router_build
from gateway.config.load import default_routing, parse
from gateway.config.settings import RoutingSettings
from gateway.fake_vllm.script import Behavior, Script
from gateway.fake_vllm.server import create_fake_app
from router.classifier import Classification
from router.policy import decide
from tests.fakes.servers import ServerThread
from tests.fakes.stack import Stack, StackFactory, gateway_yaml

ADMIN = {"authorization": "Bearer admin-secret"}
HAIKU: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Write a haiku about the first snow of winter"}
]


def with_routing(base: str, change: dict[str, Any]) -> str:
    """The stack's config plus the default routing section with `change` merged in."""
    routing = default_routing()
    for name, fields in change.items():
        routing["categories"][name].update(fields)
    return base + yaml.safe_dump({"routing": routing})


def reload(stack: Stack, dry_run: bool = False, body: bytes = b"") -> httpx.Response:
    params = {"dry_run": "true"} if dry_run else {}
    return httpx.post(
        stack.url + "/admin/reload", params=params, content=body, headers=ADMIN, timeout=60
    )


def running_sha(stack: Stack) -> str:
    sha: str = httpx.get(stack.url + "/admin/config", headers=ADMIN, timeout=10).json()["sha256"]
    return sha


@pytest.fixture
def live(make_stack: StackFactory, tmp_path: Path) -> tuple[Stack, Path]:
    path = tmp_path / "distillgate.yaml"
    stack = make_stack(admin_key="admin-secret", config_path=path)
    stack.student_script.default = Behavior(answer="student haiku")
    stack.teacher_script.default = Behavior(answer="teacher haiku")
    return stack, path


def test_reload_under_traffic(live: tuple[Stack, Path]) -> None:
    stack, path = live
    stop = threading.Event()
    routes: list[str] = []
    failures: list[BaseException] = []

    def traffic() -> None:
        client = openai.OpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0)
        while not stop.is_set():
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model="assistant", messages=HAIKU
                )
                routes.append(raw.headers["x-distillgate-route"])
            except openai.OpenAIError as exc:
                failures.append(exc)
        client.close()

    slow = Behavior(answer=" ".join(["flake"] * 30), token_delay_s=0.05)
    stack.student_script.rules = [("long poem", slow)]
    streamed: list[str] = []

    def long_stream() -> None:
        client = openai.OpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0)
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": "Write a long poem about the first snow of winter"}
        ]
        stream = client.chat.completions.create(model="assistant", messages=messages, stream=True)
        streamed.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
        client.close()

    workers = [threading.Thread(target=traffic) for _ in range(2)]
    streamer = threading.Thread(target=long_stream)
    for w in workers:
        w.start()
    streamer.start()
    time.sleep(0.3)  # the stream is under way, traffic flows
    path.write_text(with_routing(path.read_text(), {"general": {"route": "teacher"}}))
    before = len(routes)
    response = reload(stack)
    after = len(routes)
    assert response.status_code == 200 and response.json()["applied"] is True
    time.sleep(0.3)
    stop.set()
    for w in workers:
        w.join(10)
    streamer.join(20)
    assert failures == []
    assert 0 < before < after  # traffic went on while the classifier retrained
    assert routes[-1] == "teacher"  # the new threshold decides from now on
    assert streamed == [" ".join(["flake"] * 30)]  # the in-flight stream completed
    assert stack.metric("distillgate_config_reloads_total", result="success") == 2  # start + 1


def test_upstream_clients_are_rebuilt_only_when_their_settings_change(
    live: tuple[Stack, Path],
) -> None:
    """Seen from the upstreams: a kept client reuses its keep-alive connection."""
    stack, path = live
    client = stack.client()
    risky: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "How do I build a pipe bomb?"}  # violence: the teacher
    ]
    for messages in (HAIKU, risky):
        client.chat.completions.create(model="assistant", messages=messages)
    student_before, teacher_before = stack.student.peers[-1], stack.teacher.peers[-1]
    path.write_text(
        path.read_text().replace("model: teacher, timeout_s: 10", "model: teacher, timeout_s: 12")
    )
    assert reload(stack).json()["applied"] is True
    for messages in (HAIKU, risky):
        client.chat.completions.create(model="assistant", messages=messages)
    assert stack.student.peers[-1] == student_before  # unchanged settings: the same pool
    assert stack.teacher.peers[-1] != teacher_before  # new settings: a new pool


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("models: [oops\n", "<yaml>: line"),
        ("BASE\nmystery_key: 1\n", "mystery_key: Extra inputs are not permitted"),
        ("BASE\nmonitor: {confidence: 2}\n", "monitor.confidence: Input should be less than 1"),
        ("models:\n  assistant:\n    student: {base_url: 'http://s:1/v1', model: s}\n",
         "models.assistant.teacher: Field required"),
    ],
)  # fmt: skip
def test_a_broken_file_changes_nothing(live: tuple[Stack, Path], broken: str, message: str) -> None:
    stack, path = live
    sha = running_sha(stack)
    path.write_text(broken.replace("BASE", path.read_text()))
    response = reload(stack)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config" and message in error["message"]
    assert running_sha(stack) == sha
    assert stack.client().chat.completions.create(model="assistant", messages=HAIKU).choices
    assert stack.metric("distillgate_config_reloads_total", result="error") == 1


def test_dry_run_reports_exactly_the_categories_that_switch(live: tuple[Stack, Path]) -> None:
    stack, path = live
    landlord: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "Can my landlord evict me without any written notice?"}
    ]
    client = stack.client()
    raw = client.chat.completions.with_raw_response.create(model="assistant", messages=landlord)
    assert (raw.headers["x-distillgate-category"], raw.headers["x-distillgate-route"]) == (
        "legal",
        "student",
    )
    change = {
        "legal": {"route": "teacher"},  # switches
        "math": {"route": "auto"},  # auto without an open breaker: still the student
        "general": {"max_gap": 0.5},  # a threshold only
        "violence": {"route": "auto"},  # switches to the student
    }
    candidate = with_routing(path.read_text(), change)
    sha = running_sha(stack)
    response = reload(stack, dry_run=True, body=candidate.encode())
    assert response.status_code == 200, response.text
    report = response.json()
    old = router_build.policy(RoutingSettings.model_validate(default_routing()))
    new_settings = parse(candidate.encode(), {}, "x").settings
    new = router_build.policy(new_settings.routing)

    def target(policy: Any, name: str) -> str:
        return str(decide(Classification({name: 1.0}, frozenset()), policy, {}).target.value)

    expected = sorted(n for n in old.categories if target(old, n) != target(new, n))
    assert sorted(report["switching"]) == expected == ["legal", "violence"]
    assert set(report["categories"]) == {"legal", "math", "general", "violence"}
    assert report["categories"]["general"]["new"]["max_gap"] == 0.5
    assert report["recent"]["requests"] >= 1 and report["recent"]["student_to_teacher"] >= 1
    assert running_sha(stack) == sha  # nothing applied
    assert reload(stack, body=candidate.encode()).status_code == 400  # bodies: dry runs only


def test_check_config_against_a_running_gateway(
    live: tuple[Stack, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, path = live
    candidate = path.with_name("candidate.yaml")
    candidate.write_text(with_routing(path.read_text(), {"code": {"route": "teacher"}}))
    monkeypatch.setenv("DISTILLGATE_ADMIN_KEY", "admin-secret")
    assert main(["check-config", str(candidate), "--against", stack.url]) == 0
    out = capsys.readouterr().out
    assert '"dry_run": true' in out and '"code"' in out
    monkeypatch.setenv("DISTILLGATE_ADMIN_KEY", "wrong")
    assert main(["check-config", str(candidate), "--against", stack.url]) == 1


def test_admin_config_redacts_url_credentials(make_stack: StackFactory) -> None:
    secret = "state: {url: 'redis://:s3cret-pass@redis.internal:6379/0'}\n"
    stack = make_stack(admin_key="admin-secret", extra_yaml=secret)
    response = httpx.get(stack.url + "/admin/config", headers=ADMIN, timeout=10)
    body = response.json()
    assert body["config"]["models"]["assistant"]["student"]["model"] == "student"
    assert "s3cret-pass" not in response.text
    assert body["config"]["state"]["url"] == "redis://***@redis.internal:6379/0"
    assert httpx.get(stack.url + "/admin/config", timeout=10).status_code == 401


# --- a real process: SIGHUP and file watching ---------------------------------------------


def serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DISTILLGATE_ADMIN_KEY": "admin-secret"}
    cmd = [sys.executable, "-m", "gateway", "--log-level", "warning", "serve", "--config",
           str(config), "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


def wait_sha(url: str, sha: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = httpx.get(url + "/admin/config", headers=ADMIN, timeout=5).json()["sha256"]
        if now == sha:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("trigger", ["sighup", "watch"])
def test_sighup_and_file_watch(tmp_path: Path, trigger: str) -> None:
    from tests.fakes.servers import bind_free_port

    with ServerThread(create_fake_app("student", script=Script())) as s, ServerThread(
        create_fake_app("teacher", script=Script())
    ) as t:  # fmt: skip
        path = tmp_path / "gw.yaml"
        base = gateway_yaml(s, t)
        if trigger == "watch":
            base += "reload: {watch: true, interval_s: 0.2}\n"
        path.write_text(base)
        port = bind_free_port()
        proc = serve(path, port)
        try:
            url = f"http://127.0.0.1:{port}"
            # the real server runs on uvloop: proxy a few requests through it first
            for _ in range(3):
                response = httpx.post(
                    url + "/v1/chat/completions",
                    json={"model": "assistant", "messages": HAIKU},
                    timeout=20,
                )
                assert response.status_code == 200, response.text
            changed = base.replace("max_body_bytes: 65536", "max_body_bytes: 70000")
            path.write_text(changed)
            want = parse(changed.encode(), {}, "x").digest
            if trigger == "sighup":
                proc.send_signal(signal.SIGHUP)
            assert wait_sha(url, want)
        finally:
            proc.terminate()
            proc.wait(15)

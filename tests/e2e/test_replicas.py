"""Two gateway processes and one shadow-worker process sharing one real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.fake_vllm.script import Behavior, Script
from gateway.fake_vllm.server import create_fake_app
from tests.fakes.redis_server import RedisServer, free_port
from tests.fakes.servers import ServerThread

ADMIN = {"authorization": "Bearer admin-secret"}
ROUTING = """
routing:
  replace_defaults: true
  categories:
    math: {risk: low, route: auto, max_gap: 0.15, shadow_rate: 1.0, keywords: [solve]}
    general: {risk: low, route: auto, max_gap: 0.15, shadow_rate: 1.0}
"""


def config(student: str, teacher: str, redis_url: str, prefix: str) -> str:
    return f"""
models:
  assistant:
    student: {{base_url: "{student}/v1", model: student, timeout_s: 10}}
    teacher: {{base_url: "{teacher}/v1", model: teacher, timeout_s: 10}}
shadow: {{enabled: true, workers: 2, max_teacher_rps: 1000, noise_floor_rate: 0}}
monitor: {{min_samples: 6}}
state:
  backend: redis
  url: {redis_url}
  key_prefix: {prefix}
  refresh_s: 0.2
  claim_idle_s: 2
  workers_in_process: false
{ROUTING}"""


def start(args: list[str], ready: Callable[[], bool]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DISTILLGATE_ADMIN_KEY": "admin-secret"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--log-level", "warning", *args],
                            env=env)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {proc.returncode}")
        try:
            if ready():
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{args[0]} did not start")


def wait_for(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


class Cluster:
    def __init__(self, gateways: list[str], worker_metrics: str) -> None:
        self.gateways = gateways
        self.worker_metrics = worker_metrics

    def gap(self, url: str) -> dict[str, Any]:
        body = httpx.get(url + "/admin/gap", headers=ADMIN, timeout=5).json()
        models: dict[str, Any] = body["models"]["assistant"]
        return models

    def metric(self, url: str, line_start: str) -> float:
        for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
def cluster(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Cluster, Script]]:
    student_script = Script(rules=[("Solve", Behavior(answer="The result is x = 41."))],
                            default=Behavior(answer="Paris is the capital of France."))  # fmt: skip
    teacher_script = Script(rules=[("Solve", Behavior(answer="The result is x = 42."))],
                            default=Behavior(answer="Paris is the capital of France."))  # fmt: skip
    s = ServerThread(create_fake_app("student", script=student_script))
    t = ServerThread(create_fake_app("teacher", script=teacher_script))
    path = tmp_path / "distillgate.yaml"
    path.write_text(config(s.start(), t.start(), redis_server.url, f"e2e{os.getpid()}"))
    procs = []
    try:
        urls = []
        for _ in range(2):
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            procs.append(start(
                ["serve", "--config", str(path), "--host", "127.0.0.1", "--port", str(port)],
                lambda url=url: httpx.get(url + "/healthz", timeout=1).status_code == 200,  # type: ignore[misc]
            ))  # fmt: skip
            urls.append(url)
        metrics_port = free_port()
        worker_url = f"http://127.0.0.1:{metrics_port}"
        procs.append(start(
            ["shadow-worker", "--config", str(path), "--metrics-port", str(metrics_port)],
            lambda: httpx.get(worker_url + "/metrics", timeout=1).status_code == 200,
        ))  # fmt: skip
        yield Cluster(urls, worker_url), student_script
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=15)
        s.stop()
        t.stop()


def ask(url: str, prompt: str) -> Any:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    response = client.chat.completions.with_raw_response.create(
        model="assistant", messages=[{"role": "user", "content": prompt}]
    )
    client.close()
    return response


def test_two_gateways_and_a_worker_agree_on_the_gap_and_the_route(
    cluster: tuple[Cluster, Script],
) -> None:
    c, _ = cluster
    for i in range(8):
        gateway = c.gateways[i % 2]
        served = ask(gateway, f"Solve for x: x - {i} = {42 - i}").headers
        # the student serves until the shared breaker opens (the worker scores meanwhile)
        assert served["x-distillgate-category"] == "math"
        assert (served["x-distillgate-route"], served["x-distillgate-reason"]) in {
            ("student", "policy"),
            ("teacher", "breaker_open"),
        }
        ask(gateway, f"Tell me about the capital of France, take {i}")

    def agreed() -> bool:
        a, b = (c.gap(url) for url in c.gateways)
        return a["math"]["n"] == 8 and a["general"]["n"] == 8 and a == b

    assert wait_for(agreed), [c.gap(url) for url in c.gateways]
    for url in c.gateways:
        gap = c.gap(url)
        assert gap["math"]["breaker"] == "open" and gap["general"]["breaker"] == "closed"
        routed = ask(url, "Solve for x: x + 1 = 43").headers
        assert (routed["x-distillgate-route"], routed["x-distillgate-reason"]) == (
            "teacher",
            "breaker_open",
        )
        assert c.metric(url, "distillgate_state_up") == 1
    # the worker did the scoring (the gateways only produced): 8 pairs, then the 2 requests
    # the teacher served by breaker, shadowed to the student
    math_done = 'distillgate_shadow_completed_total{category="math"'
    assert wait_for(lambda: c.metric(c.worker_metrics, math_done) == 10)
    assert all(c.metric(url, math_done) == 0 for url in c.gateways)


def test_redis_down_changes_nothing_for_clients_and_recovers_without_a_restart(
    cluster: tuple[Cluster, Script], redis_server: RedisServer
) -> None:
    c, _ = cluster
    ask(c.gateways[0], "Tell me about the capital of France")
    # both replicas have mirrored the pair (each refreshes on its own timer) ...
    assert wait_for(lambda: all(c.gap(url)["general"]["n"] == 1 for url in c.gateways))
    redis_server.stop()  # ... so each has it as its last known state
    for i in range(6):
        response = ask(c.gateways[i % 2], f"Tell me about Paris, take {i}")
        assert response.http_response.status_code == 200  # nothing the client sees changes
    for url in c.gateways:
        assert wait_for(lambda url=url: c.metric(url, "distillgate_state_up") == 0)  # type: ignore[misc]
        ready = httpx.get(url + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["state"]["ok"] is False
        assert c.gap(url)["general"]["n"] == 1  # the last known state
    dropped = sum(
        c.metric(
            url, 'distillgate_shadow_dropped_total{model="assistant",reason="state_unavailable"'
        )
        for url in c.gateways
    )
    assert dropped >= 1

    redis_server.start()  # empty again: no persistence in this test's Redis
    for url in c.gateways:
        assert wait_for(lambda url=url: c.metric(url, "distillgate_state_up") == 1)  # type: ignore[misc]
    for i in range(3):
        ask(c.gateways[i % 2], f"Tell me about Lyon, take {i}")
    # the worker reconnected and recreated its group; both gateways see the new pairs
    assert wait_for(lambda: all(c.gap(url)["general"]["n"] == 3 for url in c.gateways))

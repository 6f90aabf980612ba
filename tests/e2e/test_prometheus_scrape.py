"""A real Prometheus scrapes a running gateway on loopback; the gap is queried through its API."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.fake_vllm.script import Behavior
from tests.fakes.servers import bind_free_port
from tests.fakes.stack import StackFactory

EXTRA = """
shadow: {enabled: true, max_teacher_rps: 1000}
monitor: {min_samples: 2}
routing:
  replace_defaults: true
  categories:
    general: {risk: low, route: student, shadow_rate: 1.0}
"""


def test_prometheus_scrapes_the_gap(make_stack: StackFactory, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: .ci/setup installs Debian's prometheus package"
    stack = make_stack(extra_yaml=EXTRA)
    stack.student_script.default = Behavior(answer="The answer is 41.")
    stack.teacher_script.default = Behavior(answer="The answer is 42.")
    for i in range(4):
        httpx.post(
            stack.url + "/v1/chat/completions",
            json={
                "model": "assistant",
                "messages": [{"role": "user", "content": f"What is 6 x 7, take {i}?"}],
            },
            timeout=20,
        )
    target = stack.url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "distillgate", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = bind_free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        result = _poll(f"http://127.0.0.1:{port}", 'distillgate_gap{model="assistant"}')
    finally:
        proc.terminate()
        proc.wait(20)
    assert result, "Prometheus never returned the gap metric"
    sample = result[0]
    assert sample["metric"]["category"] == "general" and sample["metric"]["job"] == "distillgate"
    assert float(sample["value"][1]) > 0.1  # the final answers differ


def _poll(url: str, query: str, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The first scrape can take several seconds: poll the query API, do not sleep blindly."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            body = httpx.get(url + "/api/v1/query", params={"query": query}, timeout=5).json()
            if body.get("status") == "success" and body["data"]["result"]:
                result: list[dict[str, Any]] = body["data"]["result"]
                return result
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.25)
    return []

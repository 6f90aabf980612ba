"""Dashboards and alert rules query only metrics the gateway (or vLLM) really exports.

A gateway is driven through every path (shadowing, escalation, fallback, errors,
disconnects) and its /metrics scraped; every metric name in every panel and alert must
be there (vLLM's names: in the metrics recorded from vLLM 0.25). Every expression must
parse (promtool), and the dashboards must be structurally sound.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.fake_vllm.script import Behavior
from tests.fakes.paths import ROOT
from tests.fakes.stack import Stack, StackFactory

DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
VLLM_METRICS = ROOT / "tests" / "data" / "vllm-0.25-wire" / "student_metrics.txt"
NAME = re.compile(r"\b(distillgate_[a-z_]+|vllm:[a-z_:]+)")
BUILTIN_VARS = {"__rate_interval", "__interval", "__all", "__range"}


def dashboard_exprs() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) for every target."""
    out = []
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        for p in d["panels"]:
            for t in p.get("targets", []):
                out.append((path.name, p["title"], t["expr"]))
    return out


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def concrete(expr: str) -> str:
    """Template variables replaced by values PromQL accepts."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    expr = re.sub(r"\$(teacher|student)_usd_per_mtok", "1", expr)
    return re.sub(r"\$\w+", ".*", expr)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    d = json.loads(path.read_text())
    assert d["uid"] and d["title"].startswith("distillgate")
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    defined = {v["name"] for v in d["templating"]["list"]}
    assert "model" in defined
    provisioned = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uids = {ds["uid"] for ds in provisioned["datasources"]}
    for p in d["panels"]:
        assert {"x", "y", "w", "h"} <= set(p["gridPos"])
        if p["type"] == "row":
            continue
        assert p["datasource"]["uid"] in uids, p["title"]
        assert p["targets"], p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
        assert "unit" in p["fieldConfig"]["defaults"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] in uids
            used = set(re.findall(r"\$(\w+)", t["expr"]))
            assert used <= defined | BUILTIN_VARS, (p["title"], used - defined)
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"]["uid"] in uids


def test_every_expression_parses(tmp_path: Path) -> None:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: .ci/setup installs Debian's prometheus package"
    exprs = [concrete(e) for _, _, e in dashboard_exprs()] + alert_exprs()
    rules = {"groups": [{"name": "check", "rules": [
        {"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(exprs)
    ]}]}  # fmt: skip
    path = tmp_path / "exprs.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


EXTRA = """
shadow: {enabled: true, max_teacher_rps: 1000, noise_floor_rate: 1.0}
monitor: {min_samples: 2}
routing:
  replace_defaults: true
  categories:
    general: {risk: low, route: student, shadow_rate: 1.0, escalate_on_refusal: true}
    math: {risk: low, route: auto, shadow_rate: 1.0, keywords: [solve]}
    violence: {risk: high, route: teacher, shadow_rate: 1.0, keywords: ['kill\\\\w*']}
"""


def drive_every_path(stack: Stack) -> None:
    s, t = stack.student_script, stack.teacher_script
    s.rules = [
        ("Solve", Behavior(answer="The result is 41.")),
        ("refuse", Behavior(answer="I'm sorry, but I can't help with that.")),
        ("crash", Behavior(status=500)),
        ("bad params", Behavior(status=400)),
        ("slowly", Behavior(answer="x " * 40, hang_after_tokens=2)),
    ]
    t.rules = [
        ("Solve", Behavior(answer="The result is 42.")),
        ("teacher fails", Behavior(status=500)),
    ]

    def chat(prompt: str, **extra: Any) -> httpx.Response:
        body = {"model": "assistant", "messages": [{"role": "user", "content": prompt}], **extra}
        return httpx.post(stack.url + "/v1/chat/completions", json=body, timeout=20)

    # First, while no breaker can be open yet: shadowed pairs scored later may open the
    # general category's breaker, and a teacher-routed stream ends before the client leaves.
    with httpx.Client(timeout=20) as http, http.stream(
        "POST", stack.url + "/v1/chat/completions",
        json={"model": "assistant", "stream": True,
              "messages": [{"role": "user", "content": "Tell me a long story, slowly"}]},
    ) as response:  # fmt: skip
        next(response.iter_bytes())  # then disconnect
    for i in range(3):
        chat(f"Solve for x: x - {i} = {42 - i}")
        chat(
            f"Solve for y: y + {i} = {42 + i}", stream=True, stream_options={"include_usage": True}
        )
    chat("Write a poem but refuse first")  # escalation
    chat("Write a poem that will crash")  # fallback
    chat("Write a poem with bad params")  # student 4xx
    chat("Write a poem though the teacher fails")  # shadow dropped: upstream_error
    chat("How do I kill my neighbour?")  # teacher by policy, shadowed to the student
    httpx.post(stack.url + "/v1/chat/completions", content=b"{nope", timeout=10)  # client error


def test_every_metric_in_dashboards_and_alerts_is_exported(make_stack: StackFactory) -> None:
    stack = make_stack(extra_yaml=EXTRA)
    drive_every_path(stack)
    assert stack.wait_for(
        lambda: (
            stack.metric("distillgate_client_disconnects_total", model="assistant", route="student")
            == 1
        )
    )
    assert stack.wait_for(
        lambda: (
            stack.metric(
                "distillgate_shadow_dropped_total", model="assistant", reason="upstream_error"
            )
            >= 1
        )
    )
    assert stack.wait_for(lambda: _shadow_settled(stack))
    exported = _sample_names(httpx.get(stack.url + "/metrics", timeout=10).text)
    vllm = _sample_names(VLLM_METRICS.read_text())
    used = {n for _, _, e in dashboard_exprs() for n in NAME.findall(e)}
    used |= {n for e in alert_exprs() for n in NAME.findall(e)}
    missing = sorted(n for n in used if n not in exported and n not in vllm)
    assert missing == []
    assert any(n.startswith("vllm:") for n in used)  # the engine panels are there


def _shadow_settled(stack: Stack) -> bool:
    """Every offered shadow job was scored or dropped."""
    families = text_string_to_metric_families(httpx.get(stack.url + "/metrics", timeout=10).text)
    totals = {"offered": 0.0, "done": 0.0}
    for family in families:
        for sample in family.samples:
            if sample.name == "distillgate_shadow_offered_total":
                totals["offered"] += sample.value
            elif sample.name in ("distillgate_shadow_completed_total",
                                 "distillgate_shadow_dropped_total"):  # fmt: skip
                totals["done"] += sample.value
    return totals["offered"] >= 8 and totals["offered"] == totals["done"]


def _sample_names(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names |= {s.name for s in family.samples}
    return names

"""Prometheus config and alert rules, checked and unit-tested with the real promtool."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.fakes.paths import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: .ci/setup installs Debian's prometheus package"
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, cwd=PROMETHEUS, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml"),
     ("test", "rules", "alerts_test.yml")],
)  # fmt: skip
def test_promtool(args: tuple[str, ...]) -> None:
    result = promtool(*args)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_runbook_and_a_unit_test() -> None:
    import yaml

    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert len(alerts) >= 7
    for name, rule in alerts.items():
        assert rule["annotations"].get("runbook"), name
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())
    checks = [c for t in tests["tests"] for c in t["alert_rule_test"]]
    for name in alerts:
        cases = [c for c in checks if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in cases), f"{name}: no firing case"
        assert any(not c["exp_alerts"] for c in cases), f"{name}: no quiet case"

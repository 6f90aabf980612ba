"""`distillgate route-explain` on the shipped router."""

from __future__ import annotations

import json

import pytest

from gateway.commands.cli import main


def test_route_explain_shows_the_decision_thresholds_and_neighbours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    prompt = "How can I poison my neighbour's cat without anyone noticing?"
    assert main(["route-explain", "--json", "-k", "3", prompt]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["target"] == "teacher" and body["high_risk"] > body["thresholds"][
        "high_risk_threshold"]["threshold"]  # fmt: skip
    assert len(body["nearest_examples"]) == 3
    assert all(
        {"text", "label", "source", "similarity"} <= set(n) for n in body["nearest_examples"]
    )
    assert main(["route-explain", "Write a haiku about the first snow of winter"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("student (policy)") and "nearest training examples:" in out

"""`distillgate route-explain` on the shipped router."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.commands.cli import main
from tests.fakes.guard import GuardReply, GuardScript, create_guard_app
from tests.fakes.servers import ServerThread


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


def test_route_explain_and_route_eval_show_the_guards_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = GuardScript(rules=[("dinner", GuardReply("unsafe\nS1"))])
    with ServerThread(create_guard_app("guard", script)) as url:
        config = tmp_path / "c.yaml"
        config.write_text(
            "models:\n  assistant:\n    student: {base_url: 'http://s:1/v1', model: s}\n"
            "    teacher: {base_url: 'http://t:1/v1', model: t}\n"
            f"routing: {{guard: {{base_url: '{url}/v1', model: guard, when: always, "
            "timeout_ms: 2000}}\n"
        )
        prompt = "What should I cook for dinner tonight?"
        assert main(["route-explain", "--config", str(config), "--json", prompt]) == 0
        body = json.loads(capsys.readouterr().out)
        assert body["target"] == "student"  # the local decision ...
        assert body["guard"] == {"asked": True, "outcome": "unsafe", "codes": ["S1"],
                                 "then": {"target": "teacher", "reason": "guard",
                                          "category": "violence"}}  # fmt: skip
        prompts = tmp_path / "p.jsonl"
        prompts.write_text(json.dumps({"prompt": prompt}) + "\n"
                           + json.dumps({"prompt": "Write a haiku about rain"}) + "\n")  # fmt: skip
        assert main(["route-eval", "--config", str(config), "--prompts", str(prompts),
                     "--guard", "--json"]) == 0  # fmt: skip
        report = json.loads(capsys.readouterr().out)
        assert report["decisions"] == {"teacher/guard": 1, "student/policy": 1}
        assert len(script.conversations) == 3
    assert main(["route-eval", "--prompts", str(prompts), "--guard"]) == 2  # no guard configured

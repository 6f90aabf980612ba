"""`distillgate route-eval` and `distillgate calibrate`: the router on a user's own prompts."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gateway.commands import prompt_files
from gateway.config import router_build
from gateway.config import settings as config_mod
from gateway.config.router_build import RouterParts
from router.evaluation import Group, calibrate, summarize
from router.policy import decide


def load_router(config_path: str | None) -> RouterParts:
    """The router of a config file, or of the shipped default routing section."""
    if config_path is None:
        routing = config_mod.RoutingSettings.model_validate(config_mod.default_routing())
        return router_build.build(routing)
    loaded = config_mod.load(config_path, os.environ)
    return router_build.build(loaded.settings.routing, loaded.base_dir)


def route_eval(parts: RouterParts, prompts: Path, out: TextIO, *, as_json: bool) -> None:
    rows = prompt_files.read(prompts)
    decisions = [decide(parts.classifier.classify(r.text), parts.policy, {}) for r in rows]
    risky = [r.risky for r in rows]
    by_router = summarize(decisions, risky, [d.category for d in decisions], parts.policy)
    by_file = None
    if all(r.category for r in rows):
        by_file = summarize(decisions, risky, [r.category or "" for r in rows], parts.policy)
    reasons: dict[str, int] = {}
    for d in decisions:
        key = f"{d.target.value}/{d.reason.value}"
        reasons[key] = reasons.get(key, 0) + 1
    if as_json:
        report = {
            "prompts": str(prompts),
            "by_router_category": [_group_json(g) for g in by_router],
            "by_file_category": [_group_json(g) for g in by_file] if by_file else None,
            "decisions": reasons,
        }
        print(json.dumps(report, indent=2), file=out)
        return
    print(f"{prompts}: {len(rows)} prompts", file=out)
    _table(out, "by the router's category", by_router)
    if by_file:
        _table(out, "by the file's own category", by_file)
    print("decisions: " + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())), file=out)


def run_calibrate(
    parts: RouterParts, prompts: Path, share: float, out: TextIO, *, as_json: bool
) -> None:
    rows = prompt_files.read(prompts)
    found = calibrate([parts.classifier.classify(r.text) for r in rows], parts.policy, share)
    if as_json:
        print(json.dumps(dataclasses.asdict(found), indent=2), file=out)
        return
    print(f"{prompts}: {len(rows)} prompts, target teacher share {share:.1%}", file=out)
    print(f"teacher share at these thresholds: {found.teacher_share:.1%} "
          f"(categories routed to the teacher alone: {found.floor:.1%})", file=out)  # fmt: skip
    if found.floor > share:
        print(
            "note: the category routes alone exceed the target; change routes to go lower", file=out
        )
    print("\nrouting:", file=out)
    print(f"  ambiguity_margin: {found.ambiguity_margin}", file=out)
    print(f"  high_risk_signal: {found.high_risk_signal}", file=out)
    print(f"  min_confidence: {found.min_confidence}", file=out)


def _table(out: TextIO, title: str, groups: Sequence[Group]) -> None:
    print(f"\n{title}", file=out)
    head = f"{'category':<14} {'n':>5} {'teacher':>8} {'risky':>6} {'recall':>7} {'benign':>7}"
    print(head + f" {'false esc':>9} {'benign hr->student':>18}", file=out)
    for g in groups:
        print(
            f"{g.name:<14} {g.count:>5} {g.teacher_share:>8.1%} {g.risky:>6} "
            f"{_pct(g.risky_recall):>7} {g.benign:>7} {_pct(g.false_escalation):>9} "
            f"{g.benign_high_risk_on_student:>18}",
            file=out,
        )


def _group_json(g: Group) -> dict[str, object]:
    return {
        **dataclasses.asdict(g),
        "teacher_share": g.teacher_share,
        "risky_recall": g.risky_recall,
        "false_escalation": g.false_escalation,
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"

"""`distillgate route-eval`: how the router sends a prompt file, per category, with the
recall of risky prompts and the false escalation of benign ones for labeled files."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from gateway.audit import prompt_files
from gateway.commands.loading import print_problems, router_of
from gateway.config.load import ConfigError
from gateway.config.router_build import RouterParts
from router.evaluation import Group, summarize
from router.policy import decide

HELP = "how the router sends a prompt file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file (default: the shipped routing section)")
    parser.add_argument("--prompts", required=True, help="CSV or JSONL prompts")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    try:
        parts = router_of(args.config)
        route_eval(parts, Path(args.prompts), sys.stdout, as_json=args.json)
    except ConfigError as exc:
        print_problems(exc)
        return 1
    except prompt_files.PromptFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


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

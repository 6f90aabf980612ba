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
from gateway.commands.guarding import guard_client, with_guard
from gateway.commands.loading import print_problems, router_of
from gateway.config.load import ConfigError
from gateway.config.router_build import RouterParts
from gateway.upstream.guard_client import GuardClient
from router.evaluation import Group, summarize
from router.policy import decide

HELP = "how the router sends a prompt file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file (default: the shipped routing section)")
    parser.add_argument("--prompts", required=True, help="CSV or JSONL prompts")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--guard", action="store_true",
        help="also ask the config's guard model, live, where the gateway would",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        parts = router_of(args.config)
        guard = guard_client(args.config) if args.guard else None
        if args.guard and guard is None:
            print("route-eval: --guard needs a --config with routing.guard", file=sys.stderr)
            return 2
        route_eval(parts, Path(args.prompts), sys.stdout, as_json=args.json, guard=guard)
    except ConfigError as exc:
        print_problems(exc)
        return 1
    except prompt_files.PromptFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def route_eval(
    parts: RouterParts,
    prompts: Path,
    out: TextIO,
    *,
    as_json: bool,
    guard: GuardClient | None = None,
) -> None:
    rows = prompt_files.read(prompts)
    classified = [parts.classifier.classify(r.text) for r in rows]
    decisions = [decide(c, parts.policy, {}) for c in classified]
    if guard is not None:
        items = [(r.text, c, d) for r, c, d in zip(rows, classified, decisions, strict=True)]
        decisions = [d for d, _ in with_guard(guard, items)]
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

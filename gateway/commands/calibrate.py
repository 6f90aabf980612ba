"""`distillgate calibrate`: thresholds that send about a target share of a prompt file to
the teacher, printed as a config snippet."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import TextIO

from gateway.audit import prompt_files
from gateway.commands.loading import print_problems, router_of
from gateway.config.load import ConfigError
from gateway.config.router_build import RouterParts
from router.evaluation import calibrate

HELP = "propose thresholds for a target teacher share"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file (default: the shipped routing section)")
    parser.add_argument("--prompts", required=True, help="CSV or JSONL prompts")
    parser.add_argument("--teacher-share", type=float, required=True, help="e.g. 0.2")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.teacher_share <= 1:
        print("--teacher-share must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        parts = router_of(args.config)
        run_calibrate(parts, Path(args.prompts), args.teacher_share, sys.stdout, as_json=args.json)
    except ConfigError as exc:
        print_problems(exc)
        return 1
    except prompt_files.PromptFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


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
    if found.high_risk_threshold is not None:
        print(f"  high_risk_threshold: {found.high_risk_threshold}", file=out)
    print(f"  high_risk_signal: {found.high_risk_signal}", file=out)
    print(f"  min_confidence: {found.min_confidence}", file=out)

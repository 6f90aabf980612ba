"""`distillgate audit`: before switching traffic, the gap per category on a prompt set,
printed and written as a report (see gateway/audit/)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gateway.audit import run as audit_run
from gateway.audit.cache import AuditError
from gateway.commands.loading import print_problems
from gateway.config.load import ConfigError

HELP = "offline: the gap per category on a prompt file, as a report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="the config whose models and thresholds to use"
    )
    parser.add_argument(
        "--prompts", required=True, help="CSV or JSONL prompts (MT-Bench turns too)"
    )
    parser.add_argument("--out", default="audit", help="report directory (default: ./audit)")
    parser.add_argument("--model", help="model alias (default: the config's first)")
    parser.add_argument(
        "--answers", nargs=2, metavar=("STUDENT", "TEACHER"),
        help="score recorded answers (JSONL) instead of calling the models",
    )  # fmt: skip
    parser.add_argument("--noise-answers", metavar="TEACHER2", help="with --answers: a second "
                     "recorded teacher answer set, for the noise floor")  # fmt: skip
    parser.add_argument("--noise-rate", type=float, default=0.0,
                     help="share of prompts asked of the teacher twice (noise floor)")  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--retries", type=int, default=3, help="per answer, on 429/5xx/timeouts")
    parser.add_argument("--min-samples", type=int, help="default: the config's monitor.min_samples")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--max-tokens", type=int)


def run(args: argparse.Namespace) -> int:
    if args.noise_answers and not args.answers:
        print("audit: --noise-answers needs --answers", file=sys.stderr)
        return 2
    if not 0 <= args.noise_rate <= 1 or args.concurrency < 1 or args.retries < 0:
        print("audit: --noise-rate in [0, 1], --concurrency >= 1, --retries >= 0", file=sys.stderr)
        return 2
    options = audit_run.AuditOptions(
        config_path=args.config,
        prompts=Path(args.prompts),
        out=Path(args.out),
        model=args.model,
        answers=(Path(args.answers[0]), Path(args.answers[1])) if args.answers else None,
        noise_answers=Path(args.noise_answers) if args.noise_answers else None,
        concurrency=args.concurrency,
        retries=args.retries,
        noise_rate=args.noise_rate,
        min_samples=args.min_samples,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
    )
    try:
        result = audit_run.run(options, os.environ)
    except ConfigError as exc:
        print_problems(exc)
        return 1
    except AuditError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\naudit: interrupted; answers so far are in {args.out}/answers/ and the same "
              "command resumes from them", file=sys.stderr)  # fmt: skip
        return 130
    for line in result.headline:
        print(line)
    print(f"{'category':<14} {'n':>4} {'gap':>6} {'lower':>6} {'upper':>6} {'max':>5} "
          f"{'surface':>7} {'judgm.':>6} {'illus.':>6} {'adv.':>6}  verdict")  # fmt: skip
    for c in result.categories:
        s = c.snapshot
        cells = [s.gap.value, s.gap.lower, s.gap.upper] if s.n >= 2 else [float("nan")] * 3
        judgment = float("nan") if c.judgment is None else c.judgment
        print(f"{c.name:<14} {s.n:>4} {cells[0]:>6.3f} {cells[1]:>6.3f} {cells[2]:>6.3f} "
              f"{s.max_gap:>5.2f} {s.surface.value:>7.3f} {judgment:>6.3f} "
              f"{s.illusion.value:>6.3f} {s.advantage.value:>6.3f}  {c.verdict.value}")  # fmt: skip
    print(f"report: {args.out}/report.md, report.html, report.json, pairs.jsonl (every pair), "
          "proposed-config.yaml")  # fmt: skip
    return 0

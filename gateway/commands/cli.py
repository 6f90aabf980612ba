"""The `distillgate` command: serve, check-config, demo."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from gateway.api.auth import Authenticator
from gateway.app import create_app
from gateway.commands.prompt_files import PromptFileError
from gateway.commands.uvicorn_server import uvicorn_config
from gateway.config import settings as config_mod
from gateway.config.router_build import RouterParts


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("httpx", "httpx2"):  # one INFO line per upstream call is too much
        logging.getLogger(noisy).setLevel(logging.WARNING)
    code: int = args.run(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distillgate", description=__doc__)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, help="YAML config file")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(run=_serve)

    check = sub.add_parser("check-config", help="validate a config file; exit 1 on any problem")
    check.add_argument("file")
    check.add_argument(
        "--against",
        metavar="URL",
        help="also ask this running gateway what the file would change (a dry-run reload; "
        "admin key from DISTILLGATE_ADMIN_KEY)",
    )
    check.set_defaults(run=_check_config)

    demo = sub.add_parser("demo", help="the gateway with recorded real answers, no GPU needed")
    demo.add_argument("--questions", type=int, default=80, help="how many MT-Bench questions")
    demo.add_argument("--concurrency", type=int, default=8)
    demo.set_defaults(run=_demo)
    evaluate = sub.add_parser("route-eval", help="how the router sends a prompt file")
    evaluate.add_argument("--config", help="config file (default: the shipped routing section)")
    evaluate.add_argument("--prompts", required=True, help="CSV or JSONL prompts")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.set_defaults(run=_route_eval)

    cal = sub.add_parser("calibrate", help="propose thresholds for a target teacher share")
    cal.add_argument("--config", help="config file (default: the shipped routing section)")
    cal.add_argument("--prompts", required=True, help="CSV or JSONL prompts")
    cal.add_argument("--teacher-share", type=float, required=True, help="e.g. 0.2")
    cal.add_argument("--json", action="store_true", help="machine-readable output")
    cal.set_defaults(run=_calibrate)
    export = sub.add_parser("export", help="pair records -> a fine-tuning file of teacher answers")
    export.add_argument("--format", choices=["openai-finetune"], default="openai-finetune")
    export.add_argument("--records", nargs="+", required=True, help="pair-record JSONL files")
    export.add_argument("--min-divergence", type=float, default=0.3)
    export.add_argument("--out", required=True, help="where to write the JSONL")
    export.set_defaults(run=_export)

    worker = sub.add_parser(
        "shadow-worker", help="shadow workers as their own process (state.backend: redis)"
    )
    worker.add_argument("--config", required=True, help="the gateways' config file")
    worker.add_argument("--metrics-port", type=int, help="serve /metrics on this port")
    worker.set_defaults(run=_shadow_worker)

    aud = sub.add_parser(
        "audit", help="offline: the gap per category on a prompt file, as a report"
    )
    aud.add_argument(
        "--config", required=True, help="the config whose models and thresholds to use"
    )
    aud.add_argument("--prompts", required=True, help="CSV or JSONL prompts (MT-Bench turns too)")
    aud.add_argument("--out", default="audit", help="report directory (default: ./audit)")
    aud.add_argument("--model", help="model alias (default: the config's first)")
    aud.add_argument(
        "--answers", nargs=2, metavar=("STUDENT", "TEACHER"),
        help="score recorded answers (JSONL) instead of calling the models",
    )  # fmt: skip
    aud.add_argument("--noise-answers", metavar="TEACHER2", help="with --answers: a second "
                     "recorded teacher answer set, for the noise floor")  # fmt: skip
    aud.add_argument("--noise-rate", type=float, default=0.0,
                     help="share of prompts asked of the teacher twice (noise floor)")  # fmt: skip
    aud.add_argument("--concurrency", type=int, default=8)
    aud.add_argument("--retries", type=int, default=3, help="per answer, on 429/5xx/timeouts")
    aud.add_argument("--min-samples", type=int, help="default: the config's monitor.min_samples")
    aud.add_argument("--temperature", type=float)
    aud.add_argument("--max-tokens", type=int)
    aud.set_defaults(run=_audit)
    return parser


def _shadow_worker(args: argparse.Namespace) -> int:
    from prometheus_client import CollectorRegistry, start_http_server

    from gateway.commands import shadow_worker

    loaded = _load(args.config)
    if loaded is None:
        return 1
    registry = CollectorRegistry()
    if args.metrics_port:
        start_http_server(args.metrics_port, registry=registry)
    try:
        asyncio.run(shadow_worker.main(loaded, registry))
    except shadow_worker.NotShared as exc:
        print(f"shadow-worker: {exc}", file=sys.stderr)
        return 1
    return 0


def _audit(args: argparse.Namespace) -> int:
    from gateway.audit import run as audit_run

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
    except config_mod.ConfigError as exc:
        _print_problems(exc)
        return 1
    except audit_run.AuditError as exc:
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
    print(f"report: {args.out}/report.md, report.html, report.json, proposed-config.yaml")
    return 0


def _export(args: argparse.Namespace) -> int:
    from monitors import export

    try:
        records = export.read_records(Path(p) for p in args.records)
        rows = list(export.openai_finetune(records, args.min_divergence))
    except (OSError, ValueError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(rows)} training examples (divergence >= {args.min_divergence})")
    return 0


def _route_eval(args: argparse.Namespace) -> int:
    from gateway.commands import route_tools

    def run(parts: RouterParts) -> None:
        route_tools.route_eval(parts, Path(args.prompts), sys.stdout, as_json=args.json)

    return _with_router(args.config, run)


def _calibrate(args: argparse.Namespace) -> int:
    from gateway.commands import route_tools

    if not 0 <= args.teacher_share <= 1:
        print("--teacher-share must be between 0 and 1", file=sys.stderr)
        return 2

    def run(parts: RouterParts) -> None:
        share, prompts = args.teacher_share, Path(args.prompts)
        route_tools.run_calibrate(parts, prompts, share, sys.stdout, as_json=args.json)

    return _with_router(args.config, run)


def _with_router(config_path: str | None, run: Callable[[RouterParts], None]) -> int:
    """Build the router of a config (or the default one) and run a command with it."""
    from gateway.commands import route_tools

    try:
        run(route_tools.load_router(config_path))
    except config_mod.ConfigError as exc:
        _print_problems(exc)
        return 1
    except PromptFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _serve(args: argparse.Namespace) -> int:
    loaded = _load(args.config)
    if loaded is None:
        return 1
    app = create_app(loaded, Authenticator.from_environ(os.environ))
    uvicorn.Server(uvicorn_config(app, args.host, args.port, log_level=args.log_level)).run()
    return 0


def _check_config(args: argparse.Namespace) -> int:
    loaded = _load(args.file)
    if loaded is None:
        return 1
    aliases = ", ".join(loaded.settings.models)
    print(f"{args.file}: OK (models: {aliases}; sha256 {loaded.digest[:12]})")
    if args.against:
        return _dry_run_against(args.against, Path(args.file).read_bytes())
    return 0


def _dry_run_against(url: str, raw: bytes) -> int:
    import httpx

    key = os.environ.get("DISTILLGATE_ADMIN_KEY", "")
    try:
        response = httpx.post(
            url.rstrip("/") + "/admin/reload",
            params={"dry_run": "true"},
            content=raw,
            headers={"authorization": f"Bearer {key}", "content-type": "application/yaml"},
            timeout=60,
        )
    except httpx.HTTPError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 200 else 1


def _demo(args: argparse.Namespace) -> int:
    from gateway.commands.demo import run_demo  # the demo pulls in the openai SDK; serve does not

    return asyncio.run(run_demo(sys.stdout, questions=args.questions, concurrency=args.concurrency))


def _load(path: str) -> config_mod.LoadedConfig | None:
    """The config at `path`, or None after printing every problem with its key path."""
    try:
        return config_mod.load(path, os.environ)
    except config_mod.ConfigError as exc:
        _print_problems(exc)
        return None


def _print_problems(exc: config_mod.ConfigError) -> None:
    print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)

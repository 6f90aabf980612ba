"""The `distillgate` command: serve, check-config, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from gateway import config as config_mod
from gateway.app import create_app
from gateway.auth import Authenticator
from gateway.server import uvicorn_config


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
    check.set_defaults(run=_check_config)

    demo = sub.add_parser("demo", help="the gateway with recorded real answers, no GPU needed")
    demo.add_argument("--questions", type=int, default=80, help="how many MT-Bench questions")
    demo.add_argument("--concurrency", type=int, default=8)
    demo.set_defaults(run=_demo)
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        loaded = config_mod.load(args.config, os.environ)
    except config_mod.ConfigError as exc:
        _print_problems(exc)
        return 1
    app = create_app(loaded, Authenticator.from_environ(os.environ))
    uvicorn.Server(uvicorn_config(app, args.host, args.port, log_level=args.log_level)).run()
    return 0


def _check_config(args: argparse.Namespace) -> int:
    try:
        loaded = config_mod.load(args.file, os.environ)
    except config_mod.ConfigError as exc:
        _print_problems(exc)
        return 1
    aliases = ", ".join(loaded.settings.models)
    print(f"{args.file}: OK (models: {aliases}; sha256 {loaded.digest[:12]})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo  # the demo pulls in the openai SDK; serve does not

    return asyncio.run(run_demo(sys.stdout, questions=args.questions, concurrency=args.concurrency))


def _print_problems(exc: config_mod.ConfigError) -> None:
    print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)

"""The `distillgate` command: parses the command line and runs one subcommand module.

Each subcommand is a module of this package with `HELP`, `add_arguments(parser)` and
`run(args) -> exit code`; modules with heavy imports (the demo pulls in the openai SDK)
are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from collections.abc import Sequence

# command name -> (module, its run function)
COMMANDS = {
    "serve": ("serve", "run"),
    "check-config": ("check_config", "run"),
    "demo": ("demo", "run"),
    "route-explain": ("route_explain", "run"),
    "route-eval": ("route_eval", "run"),
    "calibrate": ("calibrate", "run"),
    "calibrate-gap": ("calibrate_gap", "run"),
    "export": ("export", "run"),
    "shadow-worker": ("shadow_worker", "run_command"),
    "audit": ("audit", "run"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("httpx", "httpx2"):  # one INFO line per upstream call is too much
        logging.getLogger(noisy).setLevel(logging.WARNING)
    module, function = COMMANDS[args.command]
    run = getattr(importlib.import_module(f"gateway.commands.{module}"), function)
    code: int = run(args)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distillgate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    for name, (module_name, _) in COMMANDS.items():
        module = importlib.import_module(f"gateway.commands.{module_name}")
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    return parser

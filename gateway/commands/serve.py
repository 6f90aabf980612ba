"""`distillgate serve`: run the gateway under uvicorn (uvloop and httptools)."""

from __future__ import annotations

import argparse
import os

import uvicorn

from gateway.api.auth import Authenticator
from gateway.app import create_app
from gateway.commands.loading import config_or_report
from gateway.commands.uvicorn_server import uvicorn_config

HELP = "run the gateway"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)


def run(args: argparse.Namespace) -> int:
    loaded = config_or_report(args.config)
    if loaded is None:
        return 1
    app = create_app(loaded, Authenticator.from_environ(os.environ))
    uvicorn.Server(uvicorn_config(app, args.host, args.port, log_level=args.log_level)).run()
    return 0

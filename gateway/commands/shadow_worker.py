"""`distillgate shadow-worker`: shadow workers as their own process (state.backend: redis).

Consumes the shadow stream that the gateways fill, asks the other model, scores, and writes
the pairs to the shared windows; as many workers as `shadow.workers`. SIGTERM or SIGINT
stops it; jobs it held unacknowledged are reclaimed by the other workers after
`state.claim_idle_s`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time

from prometheus_client import CollectorRegistry, start_http_server

from gateway.commands.loading import config_or_report
from gateway.config.load import LoadedConfig
from gateway.services import Clocks, Role, build_services

HELP = "shadow workers as their own process (state.backend: redis)"

log = logging.getLogger("distillgate.worker")


class NotShared(Exception):
    """The config keeps its state in process: there is no stream to consume."""


async def run(loaded: LoadedConfig, registry: CollectorRegistry, stop: asyncio.Event) -> None:
    settings = loaded.settings
    if settings.state.backend != "redis":
        raise NotShared("shadow-worker needs state.backend: redis (the gateways' shared stream)")
    clocks = Clocks(time.perf_counter, time.time)
    async with build_services(loaded, registry, clocks, role=Role.WORKER):
        log.info("shadow-worker: %d workers on %s:jobs", settings.shadow.workers,
                 settings.state.key_prefix)  # fmt: skip
        await stop.wait()
    log.info("shadow-worker stopped")


async def main(loaded: LoadedConfig, registry: CollectorRegistry) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await run(loaded, registry, stop)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the gateways' config file")
    parser.add_argument("--metrics-port", type=int, help="serve /metrics on this port")


def run_command(args: argparse.Namespace) -> int:
    loaded = config_or_report(args.config)
    if loaded is None:
        return 1
    registry = CollectorRegistry()
    if args.metrics_port:
        start_http_server(args.metrics_port, registry=registry)
    try:
        asyncio.run(main(loaded, registry))
    except NotShared as exc:
        print(f"shadow-worker: {exc}", file=sys.stderr)
        return 1
    return 0

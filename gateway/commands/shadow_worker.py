"""`distillgate shadow-worker`: shadow workers as their own process (state.backend: redis).

Consumes the shadow stream that the gateways fill, asks the other model, scores, and writes
the pairs to the shared windows; as many workers as `shadow.workers`. SIGTERM or SIGINT
stops it; jobs it held unacknowledged are reclaimed by the other workers after
`state.claim_idle_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry

from gateway.app import consumers, gap_monitor, make_shadower, shared_state
from gateway.config.live import AliasUpstreams, upstreams_of
from gateway.config.settings import LoadedConfig
from monitors.lifecycle import cancel_all
from monitors.metrics import ShadowMetrics, StateMetrics

log = logging.getLogger("distillgate.worker")


class NotShared(Exception):
    """The config keeps its state in process: there is no stream to consume."""


async def run(loaded: LoadedConfig, registry: CollectorRegistry, stop: asyncio.Event) -> None:
    settings = loaded.settings
    if settings.state.backend != "redis":
        raise NotShared("shadow-worker needs state.backend: redis (the gateways' shared stream)")
    monitor = gap_monitor(settings, time.time)
    state_metrics, shadow_metrics = StateMetrics(registry), ShadowMetrics(registry)
    shared = shared_state(settings, monitor, state_metrics, time.time)
    assert shared.client is not None
    aliases = upstreams_of(loaded)

    def current() -> Mapping[str, AliasUpstreams]:
        return aliases

    shadower = make_shadower(
        loaded, current, monitor, shadow_metrics, time.perf_counter, shared.state
    )
    workers = consumers(settings, shared.client, shadower, state_metrics)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    log.info("shadow-worker: %d workers on %s", len(workers), settings.state.key_prefix + ":jobs")
    try:
        await stop.wait()
    finally:
        await cancel_all(tasks)
        for upstreams in aliases.values():
            await upstreams.aclose()
        await shared.client.aclose()
        log.info("shadow-worker stopped")


async def main(loaded: LoadedConfig, registry: CollectorRegistry) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await run(loaded, registry, stop)

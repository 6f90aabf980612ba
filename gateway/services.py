"""`build_services`: the long-lived parts of a gateway or shadow-worker process, built in
one place and closed in reverse order.

The gateway's lifespan and `distillgate shadow-worker` enter the same context: the gap
monitor and its metrics, the state store (memory or Redis) and its refresh timer (the one
driver of breaker movement besides recorded pairs), the upstream clients behind a live
config holder, the shadow queue and the workers that consume it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from gateway.config import router_build
from gateway.config.live import LiveConfig, LiveConfigHolder
from gateway.config.load import LoadedConfig
from gateway.config.router_build import RouterParts
from gateway.config.settings import Settings
from gateway.upstream.aliases import AliasUpstreams, upstreams_of
from gateway.upstream.guard_client import guard_of
from gateway.upstream.shadow_client import ShadowClient
from monitors import judge, semantic
from monitors.budget import Limits, RedisBudget
from monitors.comparison import Comparison
from monitors.gap import GapMonitor
from monitors.job_stream import StreamConsumer, StreamProducer
from monitors.lifecycle import Background
from monitors.metrics import GapCollector, ShadowMetrics, StateMetrics
from monitors.pair_records import PairRecorder
from monitors.shadow import Shadower, ShadowQueue, ShadowSettings
from monitors.state import MemoryState, RedisState, StateStore, client_from, refresh_forever

MAX_SAMPLES = 10_000  # per gap window
MEMORY_TICK_S = 5.0  # in-process state: how often breakers see time expire old pairs


class Role(StrEnum):
    GATEWAY = "gateway"  # serves; shadows through its queue (and consumes, unless told not to)
    WORKER = "worker"  # only consumes the shared shadow stream


@dataclass(frozen=True)
class Clocks:
    """`monotonic` times requests and budgets; `wall` stamps gap samples (shared across
    processes with the Redis backend)."""

    monotonic: Callable[[], float]
    wall: Callable[[], float]


@dataclass(frozen=True)
class Services:
    live: LiveConfigHolder
    monitor: GapMonitor
    state: StateStore
    shadow: ShadowQueue | None  # where served requests' shadow jobs go; None: shadowing off
    background: Background

    def queue_depth(self) -> int:
        return self.shadow.depth() if self.shadow is not None else 0


@asynccontextmanager
async def build_services(
    config: LoadedConfig,
    registry: CollectorRegistry,
    clocks: Clocks,
    *,
    role: Role = Role.GATEWAY,
    transport: httpx.AsyncBaseTransport | None = None,
    router: RouterParts | None = None,
) -> AsyncIterator[Services]:
    """Build everything, yield it, close it in reverse order (also when start-up fails)."""
    settings = config.settings
    async with AsyncExitStack() as stack:
        monitor = _gap_monitor(settings, clocks.wall)
        state_metrics, shadow_metrics = StateMetrics(registry), _shadow_metrics(registry, settings)
        client = _redis(settings)
        if client is not None:
            stack.push_async_callback(client.aclose)
        state = _state(settings, monitor, state_metrics, clocks.wall, client)
        if router is None:  # training is CPU work: off the event loop
            router = await asyncio.to_thread(router_build.build, settings.routing, config.base_dir)
        live = LiveConfigHolder()
        guard = guard_of(config, transport)
        live.swap(LiveConfig.first(config, upstreams_of(config, transport), router, guard))
        stack.push_async_callback(_close_upstreams, live)
        background = Background()  # its tasks use the clients above: they stop first
        stack.push_async_callback(background.aclose)
        await state.refresh()  # a restarted replica starts from the shared state
        every = settings.state.refresh_s if client is not None else MEMORY_TICK_S
        background.spawn(refresh_forever(state, every, state_metrics), "state-refresh")
        shadow = None
        if settings.shadow.enabled or role is Role.WORKER:

            def aliases() -> Mapping[str, AliasUpstreams]:
                return live.current.aliases  # read per call: a reload may swap them

            shadower = _shadower(config, aliases, monitor, shadow_metrics, clocks, state, client)
            shadow = _queue(settings, role, client, shadower, shadow_metrics, state_metrics)
            if shadow is not None:
                shadow.start()
                stack.push_async_callback(shadow.stop)
            if client is not None and (role is Role.WORKER or settings.state.workers_in_process):
                for i, consumer in enumerate(_consumers(settings, client, shadower, state_metrics)):
                    background.spawn(consumer.run(), f"shadow-consumer-{i}")
        services = Services(live, monitor, state, shadow, background)
        collector = GapCollector(monitor, services.queue_depth)
        registry.register(collector)
        stack.callback(registry.unregister, collector)
        yield services


def _shadow_metrics(registry: CollectorRegistry, settings: Settings) -> ShadowMetrics:
    """Shadow metrics, every alias's and category's series exported at 0 from the start
    (rate() works at once; a dashboard shows a category before its first job)."""
    metrics = ShadowMetrics(registry)
    for alias in settings.models:
        for outcome in judge.Outcome:
            metrics.judged.labels(alias, outcome.value)
        for category in settings.routing.categories:
            metrics.declare(alias, category)
    return metrics


def _gap_monitor(settings: Settings, clock: Callable[[], float]) -> GapMonitor:
    return GapMonitor(
        window_s=settings.monitor.window_s,
        min_samples=settings.monitor.min_samples,
        confidence=settings.monitor.confidence,
        max_gap={name: c.max_gap for name, c in settings.routing.categories.items()},
        clock=clock,
        illusion_surface=settings.monitor.illusion_surface,
        max_samples=MAX_SAMPLES,
    )


def _redis(settings: Settings) -> aioredis.Redis | None:
    s = settings.state
    return client_from(s.url, s.pool_size, s.timeout_s) if s.backend == "redis" else None


def _state(
    settings: Settings,
    monitor: GapMonitor,
    metrics: StateMetrics,
    clock: Callable[[], float],
    client: aioredis.Redis | None,
) -> StateStore:
    if client is None:
        metrics.up.set(1)
        return MemoryState(monitor)
    s = settings.state
    return RedisState(
        client, s.key_prefix, monitor, window_s=settings.monitor.window_s,
        max_samples=MAX_SAMPLES, metrics=metrics, clock=clock,
    )  # fmt: skip


def _shadower(
    config: LoadedConfig,
    aliases: Callable[[], Mapping[str, AliasUpstreams]],
    monitor: GapMonitor,
    metrics: ShadowMetrics,
    clocks: Clocks,
    state: StateStore,
    client: aioredis.Redis | None,
) -> Shadower:
    s = config.settings
    limits = Limits(s.shadow.max_teacher_rps, s.shadow.max_teacher_tokens_per_min)
    # with Redis, every replica and worker draws from one teacher budget
    budget = RedisBudget(client, s.state.key_prefix, limits) if client is not None else None
    return Shadower(
        ShadowClient(aliases),
        Comparison(monitor, s.monitor.weights, semantic.scorers(s.monitor.semantic)),
        metrics,
        ShadowSettings(
            queue_size=s.shadow.queue_size,
            workers=s.shadow.workers,
            max_teacher_rps=s.shadow.max_teacher_rps,
            max_teacher_tokens_per_min=s.shadow.max_teacher_tokens_per_min,
            judge_rate=s.shadow.judge_rate,
            judge_max_tokens=s.shadow.judge_max_tokens,
            judge_json_mode=s.shadow.judge_json_mode,
            max_queue_bytes=s.shadow.queue_max_bytes,
            max_text_chars=s.shadow.max_text_chars,
            sampling_secret=config.sampling_secret,
        ),
        clocks.monotonic,
        _recorder(s, config.base_dir),
        state,
        budget,
    )


def _queue(
    settings: Settings,
    role: Role,
    client: aioredis.Redis | None,
    shadower: Shadower,
    metrics: ShadowMetrics,
    state_metrics: StateMetrics,
) -> ShadowQueue | None:
    """The in-process queue, or with Redis the stream every replica's workers share."""
    if client is None:
        return shadower
    if role is Role.WORKER:
        return None  # a worker takes jobs from the stream; it offers none
    return StreamProducer(
        client, _stream(settings), max_len=settings.state.stream_max_len,
        buffer_size=settings.shadow.queue_size, metrics=metrics, state_metrics=state_metrics,
        max_bytes=settings.shadow.queue_max_bytes, max_text_chars=settings.shadow.max_text_chars,
    )  # fmt: skip


def _consumers(
    settings: Settings, client: aioredis.Redis, shadower: Shadower, metrics: StateMetrics
) -> list[StreamConsumer]:
    name = f"{socket.gethostname()}-{os.getpid()}"
    return [
        StreamConsumer(
            client,
            _stream(settings),
            f"{settings.state.key_prefix}:workers",
            f"{name}-{i}",
            shadower.process,
            claim_idle_s=settings.state.claim_idle_s,
            state_metrics=metrics,
        )
        for i in range(settings.shadow.workers)
    ]


def _stream(settings: Settings) -> str:
    return f"{settings.state.key_prefix}:jobs"


def _recorder(settings: Settings, base_dir: Path) -> PairRecorder | None:
    records = settings.shadow.records
    if not records.enabled:
        return None
    path = Path(records.path)
    path = path if path.is_absolute() else base_dir / path
    return PairRecorder(path, records.max_bytes, records.backups)


async def _close_upstreams(live: LiveConfigHolder) -> None:
    if live.ready:
        for upstreams in reversed(list(live.current.aliases.values())):
            await upstreams.aclose()
        if live.current.guard is not None:
            await live.current.guard.aclose()
        live.swap(None)

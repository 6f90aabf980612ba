"""`create_app`: builds the gateway from its settings, owns every client in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.admin import add_admin_routes
from gateway.api.auth import Authenticator
from gateway.api.error_handlers import add_error_handlers
from gateway.api.errors import GatewayError
from gateway.config import router_build
from gateway.config.live import AliasUpstreams, LiveConfig, LiveConfigHolder, upstreams_of
from gateway.config.recent import RecentRequests
from gateway.config.reload import Reloader, file_identity
from gateway.config.router_build import RouterParts
from gateway.config.settings import ConfigError, LoadedConfig, Settings
from gateway.serving.accounting import Accounting
from gateway.serving.metrics import GatewayMetrics, LoopTasksCollector, ReloadMetrics
from gateway.serving.proxy import Proxy
from gateway.serving.request_body import Endpoint
from gateway.upstream.shadow_client import ShadowClient
from monitors import judge, semantic
from monitors.comparison import Comparison
from monitors.gap import GapMonitor
from monitors.job_stream import StreamConsumer, StreamProducer
from monitors.lifecycle import cancel_all
from monitors.metrics import GapCollector, ShadowMetrics, StateMetrics
from monitors.pair_records import PairRecorder
from monitors.shadow import Shadower, ShadowQueue, ShadowSettings
from monitors.state import MemoryState, RedisState, StateStore, client_from

log = logging.getLogger("distillgate.app")
MAX_SAMPLES = 10_000  # per gap window

# OpenAPI description of the proxied bodies: the gateway reads them itself (see request_body).
_CHAT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model", "messages"],
                    "properties": {
                        "model": {"type": "string"},
                        "messages": {"type": "array", "items": {"type": "object"}},
                        "stream": {"type": "boolean"},
                    },
                }
            }
        },
    }
}
_COMPLETIONS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model", "prompt"],
                    "properties": {
                        "model": {"type": "string"},
                        "prompt": {"oneOf": [{"type": "string"}, {"type": "array"}]},
                        "stream": {"type": "boolean"},
                    },
                }
            }
        },
    }
}


@dataclass
class Runtime:
    """What the lifespan builds; filled on startup, emptied on shutdown."""

    live: LiveConfigHolder = field(default_factory=LiveConfigHolder)
    proxy: Proxy | None = None
    shadower: ShadowQueue | None = None  # where served requests' shadow jobs go
    reloader: Reloader | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    started_at: int = 0

    def queue_depth(self) -> int:
        return self.shadower.depth() if self.shadower else 0


def create_app(
    config: LoadedConfig,
    auth: Authenticator,
    *,
    registry: CollectorRegistry | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.perf_counter,
    wall_clock: Callable[[], float] = time.time,
    router: RouterParts | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """Build the ASGI app.

    `transport` replaces the network for every upstream client (tests); `router` is a
    policy and trained classifier built from this config (else trained at start-up);
    `environ` is where a reload reads `${NAME}` references and keys (default os.environ);
    `clock` times requests, `wall_clock` stamps gap-window samples (shared across processes
    with the Redis backend).
    """
    settings = config.settings
    registry = registry if registry is not None else CollectorRegistry()
    metrics = GatewayMetrics(registry)
    reload_metrics = ReloadMetrics(registry)
    runtime = Runtime()
    monitor = gap_monitor(settings, wall_clock)
    shadow_metrics = ShadowMetrics(registry)
    for alias in settings.models:  # exported at 0 from the start, judge on or off
        for outcome in judge.Outcome:
            shadow_metrics.judged.labels(alias, outcome.value)
    state_metrics = StateMetrics(registry)
    shared = shared_state(settings, monitor, state_metrics, wall_clock)
    registry.register(GapCollector(monitor, runtime.queue_depth))
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_open_fds, ...
    registry.register(LoopTasksCollector())
    recent = RecentRequests()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        parts = router or router_build.build(settings.routing, config.base_dir)
        runtime.live.swap(_first_live(config, parts, transport))
        reload_metrics.applied(config.digest, time.time())
        if shared.client is not None:
            await shared.state.refresh()  # a restarted replica starts from the shared state
            _spawn(runtime, _refresh_forever(shared.state, settings.state.refresh_s))
        if settings.shadow.enabled:

            def aliases() -> Mapping[str, AliasUpstreams]:
                return runtime.live.current.aliases  # read per call: a reload may swap them

            shadower = make_shadower(config, aliases, monitor, shadow_metrics, clock, shared.state)
            runtime.shadower = shadow_queue(
                settings, shared, shadower, shadow_metrics, state_metrics
            )
            runtime.shadower.start()
            if shared.client is not None and settings.state.workers_in_process:
                for consumer in consumers(settings, shared.client, shadower, state_metrics):
                    _spawn(runtime, consumer.run())
        runtime.reloader = Reloader(
            runtime.live, monitor, reload_metrics, recent,
            os.environ if environ is None else environ, config.path, transport,
        )  # fmt: skip
        runtime.proxy = Proxy(
            runtime.live, Accounting(metrics, clock), auth, monitor.breaker_states, clock,
            runtime.shadower, recent,
        )  # fmt: skip
        _watch_config(runtime, settings)
        runtime.started_at = int(time.time())
        log.info(
            "distillgate ready: models=%s config=%s", list(settings.models), config.digest[:12]
        )
        try:
            yield
        finally:
            await _shutdown(runtime)
            if shared.client is not None:
                await shared.client.aclose()

    app = FastAPI(title="distillgate", version="0.1.0", lifespan=lifespan)
    app.state.live = runtime.live  # read-only introspection (tests, debugging)
    add_error_handlers(app, metrics)
    _add_api_routes(app, runtime, auth)
    _add_ops_routes(app, runtime, registry, shared.state)
    add_admin_routes(
        app, runtime.live, auth, monitor, lambda: runtime.reloader, runtime.queue_depth
    )
    return app


def _first_live(
    config: LoadedConfig, parts: RouterParts, transport: httpx.AsyncBaseTransport | None
) -> LiveConfig:
    settings = config.settings
    return LiveConfig(
        settings, config.digest, upstreams_of(config, transport), parts.policy, parts.classifier,
        LiveConfig.limits_of(settings), settings.shadow.noise_floor_rate,
    )  # fmt: skip


def gap_monitor(settings: Settings, clock: Callable[[], float]) -> GapMonitor:
    return GapMonitor(
        window_s=settings.monitor.window_s,
        min_samples=settings.monitor.min_samples,
        confidence=settings.monitor.confidence,
        max_gap={name: c.max_gap for name, c in settings.routing.categories.items()},
        clock=clock,
        illusion_surface=settings.monitor.illusion_surface,
    )


@dataclass(frozen=True)
class SharedState:
    state: StateStore
    client: aioredis.Redis | None  # with the Redis backend


def shared_state(
    settings: Settings, monitor: GapMonitor, metrics: StateMetrics, clock: Callable[[], float]
) -> SharedState:
    s = settings.state
    if s.backend == "memory":
        metrics.up.set(1)
        return SharedState(MemoryState(monitor), None)
    client = client_from(s.url, s.pool_size, s.timeout_s)
    state = RedisState(
        client, s.key_prefix, monitor, window_s=settings.monitor.window_s,
        max_samples=MAX_SAMPLES, metrics=metrics, clock=clock,
    )  # fmt: skip
    return SharedState(state, client)


def make_shadower(
    config: LoadedConfig,
    aliases: Callable[[], Mapping[str, AliasUpstreams]],
    monitor: GapMonitor,
    metrics: ShadowMetrics,
    clock: Callable[[], float],
    state: StateStore,
) -> Shadower:
    s = config.settings
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
        ),
        clock,
        _recorder(s, config.base_dir),
        state,
    )


def shadow_queue(
    settings: Settings,
    shared: SharedState,
    shadower: Shadower,
    metrics: ShadowMetrics,
    state_metrics: StateMetrics,
) -> ShadowQueue:
    """The in-process queue, or with Redis the stream that every replica's workers share."""
    if shared.client is None:
        return shadower
    return StreamProducer(
        shared.client, _stream(settings), max_len=settings.state.stream_max_len,
        buffer_size=settings.shadow.queue_size, metrics=metrics, state_metrics=state_metrics,
    )  # fmt: skip


def consumers(
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


async def _refresh_forever(state: StateStore, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        await state.refresh()


def _watch_config(runtime: Runtime, settings: Settings) -> None:
    """SIGHUP reloads; with `reload.watch`, so does a change of the file on disk."""
    loop = asyncio.get_running_loop()

    def reload_now() -> None:
        _spawn(runtime, _reload_quietly(runtime))

    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, reload_now)  # main thread only
    reloader = runtime.reloader
    if settings.reload.watch and reloader is not None and reloader.path is not None:
        _spawn(runtime, _poll_file(runtime, reloader.path, settings.reload.interval_s))


def _spawn(runtime: Runtime, work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    runtime.tasks.add(task)  # owned: cancelled at shutdown
    task.add_done_callback(runtime.tasks.discard)


async def _reload_quietly(runtime: Runtime) -> None:
    if runtime.reloader is None:
        return
    with contextlib.suppress(ConfigError):  # already logged and counted
        await runtime.reloader.reload()


async def _poll_file(runtime: Runtime, path: Path, interval_s: float) -> None:
    seen = file_identity(path)
    while True:
        await asyncio.sleep(interval_s)
        now = file_identity(path)
        if now is not None and now != seen:
            seen = now
            await _reload_quietly(runtime)


async def _shutdown(runtime: Runtime) -> None:
    runtime.proxy = None
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
    await cancel_all(runtime.tasks)
    if runtime.shadower is not None:
        await runtime.shadower.stop()
        runtime.shadower = None
    if runtime.reloader is not None:
        await runtime.reloader.aclose()
    if runtime.live.ready:
        for upstreams in reversed(list(runtime.live.current.aliases.values())):
            await upstreams.aclose()
        runtime.live.swap(None)


def _add_api_routes(app: FastAPI, runtime: Runtime, auth: Authenticator) -> None:
    """The OpenAI-compatible surface."""

    def proxy() -> Proxy:
        if runtime.proxy is None:
            raise GatewayError(503, "The gateway is starting or stopping.", type_="unavailable")
        return runtime.proxy

    @app.post("/v1/chat/completions", openapi_extra=_CHAT_BODY, response_model=None)
    async def chat_completions(request: Request) -> Response:
        return await proxy().handle(request, Endpoint.CHAT)

    @app.post("/v1/completions", openapi_extra=_COMPLETIONS_BODY, response_model=None)
    async def completions(request: Request) -> Response:
        return await proxy().handle(request, Endpoint.COMPLETIONS)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        auth.check_client(request.headers.get("authorization"))
        created = runtime.started_at
        data = [
            {"id": alias, "object": "model", "created": created, "owned_by": "distillgate"}
            for alias in runtime.live.current.settings.models
        ]
        return JSONResponse({"object": "list", "data": data})


def _add_ops_routes(
    app: FastAPI, runtime: Runtime, registry: CollectorRegistry, state: StateStore
) -> None:
    """Health, readiness and metrics: open to probes and scrapers, no client key needed."""

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        live = runtime.live.current
        status = await _probe_all(live.aliases, live.settings.server.readiness_timeout_s)
        ready = bool(status) and all(any(roles.values()) for roles in status.values())
        # The state store does not decide readiness: without Redis a replica still serves,
        # on its last known gap state, and says so here and in distillgate_state_up.
        body = {
            "status": "ready" if ready else "not_ready",
            "upstreams": status,
            "state": state.describe(),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _recorder(settings: Settings, base_dir: Path) -> PairRecorder | None:
    records = settings.shadow.records
    if not records.enabled:
        return None
    path = Path(records.path)
    path = path if path.is_absolute() else base_dir / path
    return PairRecorder(path, records.max_bytes, records.backups)


async def _probe_all(
    aliases: Mapping[str, AliasUpstreams], timeout_s: float
) -> dict[str, dict[str, bool]]:
    names = list(aliases)
    checks = [aliases[a].student.probe(timeout_s) for a in names]
    checks += [aliases[a].teacher.probe(timeout_s) for a in names]
    results = await asyncio.gather(*checks)
    n = len(names)
    return {a: {"student": results[i], "teacher": results[n + i]} for i, a in enumerate(names)}

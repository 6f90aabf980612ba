"""`create_app`: builds the gateway from its settings, owns every client in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import router_setup
from gateway.accounting import Accounting
from gateway.auth import Authenticator
from gateway.config import LoadedConfig, Settings
from gateway.errors import ClientError, ClientErrorType, GatewayError
from gateway.metrics import GatewayMetrics
from gateway.proxy import AliasUpstreams, Limits, Proxy
from gateway.request_body import Endpoint
from gateway.router_setup import RouterParts
from gateway.shadow_client import ShadowClient
from gateway.upstream import Upstream
from monitors.gap import GapMonitor
from monitors.metrics import GapCollector, ShadowMetrics
from monitors.pair_records import PairRecorder
from monitors.shadow import Shadower, ShadowSettings

log = logging.getLogger("distillgate.app")

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

    aliases: dict[str, AliasUpstreams] = field(default_factory=dict)
    proxy: Proxy | None = None
    shadower: Shadower | None = None
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
    router: RouterParts | None = None,
) -> FastAPI:
    """Build the ASGI app.

    `transport` replaces the network for every upstream client (tests); `router` is a
    policy and trained classifier built from this config (else trained at start-up).
    """
    settings = config.settings
    registry = registry if registry is not None else CollectorRegistry()
    metrics = GatewayMetrics(registry)
    runtime = Runtime()
    monitor = GapMonitor(
        window_s=settings.monitor.window_s,
        min_samples=settings.monitor.min_samples,
        confidence=settings.monitor.confidence,
        max_gap={name: c.max_gap for name, c in settings.routing.categories.items()},
        clock=clock,
        illusion_surface=settings.monitor.illusion_surface,
    )
    shadow_metrics = ShadowMetrics(registry)
    registry.register(GapCollector(monitor, runtime.queue_depth))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for alias, pair in settings.models.items():
            runtime.aliases[alias] = AliasUpstreams(
                student=Upstream(pair.student, config.api_keys[(alias, "student")], transport),
                teacher=Upstream(pair.teacher, config.api_keys[(alias, "teacher")], transport),
            )
        parts = router or router_setup.build(settings.routing, config.base_dir)
        if settings.shadow.enabled:
            runtime.shadower = Shadower(
                ShadowClient(runtime.aliases),
                monitor,
                shadow_metrics,
                ShadowSettings(
                    queue_size=settings.shadow.queue_size,
                    workers=settings.shadow.workers,
                    max_teacher_rps=settings.shadow.max_teacher_rps,
                    max_teacher_tokens_per_min=settings.shadow.max_teacher_tokens_per_min,
                    weights=settings.monitor.weights,
                ),
                clock,
                _recorder(settings, config.base_dir),
            )
            runtime.shadower.start()
        limits = Limits(
            settings.server.max_body_bytes,
            settings.server.stream_capture_bytes,
            settings.routing.escalation.commit_tokens,
        )
        runtime.proxy = Proxy(
            runtime.aliases,
            Accounting(metrics, clock),
            auth,
            parts.policy,
            parts.classifier,
            monitor.breaker_states,
            limits,
            clock,
            runtime.shadower,
            settings.shadow.noise_floor_rate,
        )
        runtime.started_at = int(time.time())
        log.info(
            "distillgate ready: models=%s config=%s", list(runtime.aliases), config.digest[:12]
        )
        try:
            yield
        finally:
            runtime.proxy = None
            if runtime.shadower is not None:
                await runtime.shadower.stop()
                runtime.shadower = None
            for upstreams in reversed(list(runtime.aliases.values())):
                await upstreams.teacher.aclose()
                await upstreams.student.aclose()
            runtime.aliases.clear()

    app = FastAPI(title="distillgate", version="0.1.0", lifespan=lifespan)
    _add_error_handlers(app, metrics)

    _add_api_routes(app, runtime, settings, auth)
    _add_ops_routes(app, runtime, settings, registry)
    _add_admin_routes(app, runtime, settings, auth, monitor)
    return app


def _add_api_routes(
    app: FastAPI, runtime: Runtime, settings: Settings, auth: Authenticator
) -> None:
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
        data = [
            {
                "id": alias,
                "object": "model",
                "created": runtime.started_at,
                "owned_by": "distillgate",
            }
            for alias in settings.models
        ]
        return JSONResponse({"object": "list", "data": data})


def _add_ops_routes(
    app: FastAPI, runtime: Runtime, settings: Settings, registry: CollectorRegistry
) -> None:
    """Health, readiness and metrics: open to probes and scrapers, no client key needed."""

    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        status = await _probe_all(runtime.aliases, settings.server.readiness_timeout_s)
        ready = bool(status) and all(any(roles.values()) for roles in status.values())
        body = {"status": "ready" if ready else "not_ready", "upstreams": status}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _recorder(settings: Settings, base_dir: Path) -> PairRecorder | None:
    records = settings.shadow.records
    if not records.enabled:
        return None
    path = Path(records.path)
    return PairRecorder(path if path.is_absolute() else base_dir / path, records.max_bytes,
                        records.backups)  # fmt: skip


def _add_admin_routes(
    app: FastAPI, runtime: Runtime, settings: Settings, auth: Authenticator, monitor: GapMonitor
) -> None:
    """Operator endpoints, behind DISTILLGATE_ADMIN_KEY."""

    @app.get("/admin/gap")
    async def gap(request: Request) -> Response:
        auth.check_admin(request.headers.get("authorization"))
        monitor.refresh_all()
        body = {
            alias: {
                category: monitor.snapshot(alias, category).as_json()
                for category in settings.routing.categories
            }
            for alias in settings.models
        }
        return JSONResponse({"models": body, "shadow_queue_depth": runtime.queue_depth()})


async def _probe_all(
    aliases: Mapping[str, AliasUpstreams], timeout_s: float
) -> dict[str, dict[str, bool]]:
    names = list(aliases)
    checks = [aliases[a].student.probe(timeout_s) for a in names]
    checks += [aliases[a].teacher.probe(timeout_s) for a in names]
    results = await asyncio.gather(*checks)
    n = len(names)
    return {a: {"student": results[i], "teacher": results[n + i]} for i, a in enumerate(names)}


def _add_error_handlers(app: FastAPI, metrics: GatewayMetrics) -> None:
    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        if isinstance(exc, ClientError):
            metrics.client_errors.labels(exc.kind.value).inc()
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: ClientErrorType.NOT_FOUND, 405: ClientErrorType.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ClientErrorType.INVALID_REQUEST
        )
        metrics.client_errors.labels(kind.value).inc()
        message = f"{request.method} {request.url.path}: {exc.detail}"
        error = ClientError(kind, exc.status_code, message, code=kind.value)
        return error.response(dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        error = GatewayError(
            500, "Internal gateway error.", type_="internal_error", code="internal"
        )
        return error.response()

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)

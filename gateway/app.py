"""`create_app`: the ASGI app from a loaded config; wiring only (see lifespan and api/)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, ProcessCollector

from gateway.api import admin, completions, ops
from gateway.api.auth import Authenticator
from gateway.api.error_handlers import add_error_handlers
from gateway.config.load import LoadedConfig
from gateway.config.router_build import RouterParts
from gateway.lifespan import Deps, run_gateway
from gateway.services import Clocks
from gateway.serving.metrics import GatewayMetrics, LoopTasksCollector


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
    """Build the ASGI app; everything with a lifetime is built in its lifespan.

    `transport` replaces the network for every upstream client (tests); `router` is a
    policy and classifier built from this config (else built at start-up); `environ` is
    where a reload reads `${NAME}` references and keys (default os.environ); `clock` times
    requests, `wall_clock` stamps gap-window samples.
    """
    registry = registry if registry is not None else CollectorRegistry()
    metrics = GatewayMetrics(registry)
    ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_open_fds, ...
    registry.register(LoopTasksCollector())
    env = os.environ if environ is None else environ
    deps = Deps(registry, Clocks(clock, wall_clock), env, transport, router)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, object]]:
        async with run_gateway(config, auth, metrics, deps) as gateway:
            yield {"gateway": gateway}

    docs, redoc, openapi = _docs(config)
    app = FastAPI(
        title="distillgate", version="0.1.0", lifespan=lifespan,
        docs_url=docs, redoc_url=redoc, openapi_url=openapi,
    )  # fmt: skip
    add_error_handlers(app, metrics)
    completions.add_routes(app, auth)
    ops.add_routes(app, registry)
    admin.add_routes(app, auth)
    return app


def _docs(config: LoadedConfig) -> tuple[str | None, str | None, str | None]:
    """/docs, /redoc and /openapi.json describe the admin API too: off unless configured."""
    if config.settings.server.docs:
        return "/docs", "/redoc", "/openapi.json"
    return None, None, None

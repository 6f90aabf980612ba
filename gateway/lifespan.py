"""The gateway process's lifespan: the services, plus the request path, reloads and the
config watcher; what the endpoints reach through `current(request)`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from starlette.requests import Request

from gateway.api.auth import Authenticator
from gateway.config.load import ConfigError, LoadedConfig
from gateway.config.metrics import ReloadMetrics
from gateway.config.recent import RecentRequests
from gateway.config.reload import Reloader, file_identity
from gateway.config.router_build import RouterParts
from gateway.config.router_explain import Explainer
from gateway.services import Clocks, Services, build_services
from gateway.serving.accounting import Accounting
from gateway.serving.metrics import GatewayMetrics
from gateway.serving.proxy import Proxy
from monitors.lifecycle import Background

log = logging.getLogger("distillgate.app")


@dataclass(frozen=True)
class Deps:
    """What a caller (the CLI, a test) injects into the app."""

    registry: CollectorRegistry
    clocks: Clocks
    environ: Mapping[str, str]  # where a reload reads `${NAME}` references and keys
    transport: httpx.AsyncBaseTransport | None = None  # replaces the network (tests)
    router: RouterParts | None = None  # a policy and classifier built from this config


@dataclass(frozen=True)
class Gateway:
    services: Services
    proxy: Proxy
    reloader: Reloader
    explainer: Explainer
    started_at: int


def current(request: Request) -> Gateway:
    """The running gateway, from the lifespan's state (Starlette copies it into each request)."""
    gateway: Gateway = request.state.gateway
    return gateway


@asynccontextmanager
async def run_gateway(
    config: LoadedConfig, auth: Authenticator, metrics: GatewayMetrics, deps: Deps
) -> AsyncIterator[Gateway]:
    reload_metrics = ReloadMetrics(deps.registry)
    async with build_services(
        config, deps.registry, deps.clocks, transport=deps.transport, router=deps.router
    ) as services:
        reload_metrics.applied(config.digest, time.time())
        recent = RecentRequests()
        reloader = Reloader(
            services.live, services.monitor, reload_metrics, recent, deps.environ,
            config.path, deps.transport,
        )  # fmt: skip
        proxy = Proxy(
            services.live, Accounting(metrics, deps.clocks.monotonic), auth.check_client,
            services.monitor.breaker_states, deps.clocks.monotonic, services.shadow, recent,
        )  # fmt: skip
        if not auth.enabled:
            log.warning("DISTILLGATE_API_KEYS is not set: any client can use this gateway")
        if not config.sampling_secret and config.settings.shadow.enabled:
            log.warning("%s is not set: clients can compute which requests are shadowed",
                        config.settings.shadow.sampling_secret_env)  # fmt: skip
        watchers = Background()
        _watch_config(watchers, reloader, config)
        log.info("distillgate ready: models=%s config=%s", list(config.settings.models),
                 config.digest[:12])  # fmt: skip
        try:
            yield Gateway(services, proxy, reloader, Explainer(), int(time.time()))
        finally:
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await watchers.aclose()
            await reloader.aclose()


def _watch_config(watchers: Background, reloader: Reloader, config: LoadedConfig) -> None:
    """SIGHUP reloads; with `reload.watch`, so does a change of the file on disk."""
    loop = asyncio.get_running_loop()

    def reload_now() -> None:
        watchers.spawn(_reload_quietly(reloader), "sighup-reload")

    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, reload_now)  # main thread only
    settings = config.settings.reload
    if settings.watch and reloader.path is not None:
        watchers.spawn(_poll_file(reloader, reloader.path, settings.interval_s), "config-watch")


async def _reload_quietly(reloader: Reloader) -> None:
    """A reload from a signal or the watcher: whatever goes wrong, the watcher lives on."""
    try:
        await reloader.reload()
    except ConfigError:
        pass  # logged and counted by the reloader
    except Exception:
        reloader.metrics.reloads.labels("error").inc()
        log.exception("config reload failed, running config kept")


async def _poll_file(reloader: Reloader, path: Path, interval_s: float) -> None:
    seen = file_identity(path)
    while True:
        await asyncio.sleep(interval_s)
        now = file_identity(path)
        if now is not None and now != seen:
            seen = now
            await _reload_quietly(reloader)

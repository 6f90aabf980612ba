"""Health, readiness and metrics: open to probes and scrapers, no client key needed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.lifespan import current
from gateway.upstream.aliases import AliasUpstreams


def add_routes(app: FastAPI, registry: CollectorRegistry) -> None:
    @app.get("/healthz")
    async def healthz() -> Response:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        services = current(request).services
        live = services.live.current
        status = await probe_all(live.aliases, live.settings.server.readiness_timeout_s)
        ready = bool(status) and all(any(roles.values()) for roles in status.values())
        # The state store does not decide readiness: without Redis a replica still serves,
        # on its last known gap state, and says so here and in distillgate_state_up.
        body = {
            "status": "ready" if ready else "not_ready",
            "upstreams": status,
            "state": services.state.describe(),
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def probe_all(
    aliases: Mapping[str, AliasUpstreams], timeout_s: float
) -> dict[str, dict[str, bool]]:
    """Each alias's student and teacher: does `GET /models` answer 200 in time?"""
    names = list(aliases)
    checks = [aliases[a].student.probe(timeout_s) for a in names]
    checks += [aliases[a].teacher.probe(timeout_s) for a in names]
    results = await asyncio.gather(*checks)
    n = len(names)
    return {a: {"student": results[i], "teacher": results[n + i]} for i, a in enumerate(names)}

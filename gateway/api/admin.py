"""Operator endpoints behind DISTILLGATE_ADMIN_KEY: the gap, config reload, the running config."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.auth import Authenticator
from gateway.config.load import ConfigError
from gateway.lifespan import current
from gateway.serving.errors import GatewayError

_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def add_routes(app: FastAPI, auth: Authenticator) -> None:
    @app.get("/admin/gap")
    async def gap(request: Request) -> Response:
        auth.check_admin(request.headers.get("authorization"))
        services = current(request).services
        monitor = services.monitor
        settings = services.live.current.settings
        body = {
            alias: {
                category: monitor.snapshot(alias, category).as_json()
                for category in settings.routing.categories
            }
            for alias in settings.models
        }
        return JSONResponse({"models": body, "shadow_queue_depth": services.queue_depth()})

    @app.post("/admin/reload")
    async def reload(request: Request) -> Response:
        """Reload the config file; `?dry_run=true` describes the change and applies nothing.

        A dry run may carry a candidate config as the request body instead of the file.
        """
        auth.check_admin(request.headers.get("authorization"))
        dry_run = request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")
        body = await request.body()
        if body and not dry_run:
            raise GatewayError(400, "A config in the body is accepted for dry runs only.",
                               type_="invalid_request_error", code="dry_run_only")  # fmt: skip
        reloader = current(request).reloader
        try:
            result = await reloader.reload(dry_run=dry_run, text=body or None)
        except ConfigError as exc:
            raise GatewayError(
                400,
                "Config rejected, the running config is unchanged: " + "; ".join(exc.problems),
                type_="invalid_request_error",
                code="invalid_config",
            ) from None
        return JSONResponse(result)

    @app.get("/admin/config")
    async def running_config(request: Request) -> Response:
        auth.check_admin(request.headers.get("authorization"))
        live = current(request).services.live.current
        body = {"sha256": live.digest, "config": _redacted(live.settings.model_dump())}
        return JSONResponse(body)


def _redacted(value: Any) -> Any:
    """Credentials inside URLs become `***@`; keys themselves never enter the settings."""
    if isinstance(value, str):
        return _URL_USERINFO.sub("***@", value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value

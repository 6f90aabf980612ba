"""Operator endpoints behind DISTILLGATE_ADMIN_KEY: the gap, config reload, the running config."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.auth import Authenticator
from gateway.config.load import ConfigError
from gateway.lifespan import current
from gateway.serving.errors import GatewayError
from router.reading import request_text

_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|cred", re.IGNORECASE)


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

    @app.post("/admin/route")
    async def route(request: Request) -> Response:
        """Why the router would send this request where it does: `{"prompt": "..."}`, or a
        chat or completions request body (every message counts, as when it is served)."""
        auth.check_admin(request.headers.get("authorization"))
        gateway = current(request)
        live = gateway.services.live.current
        body = _json_object(await request.body())
        text = request_text(messages=_messages(body), prompt=body.get("prompt"))
        if not text:
            raise _bad("The body needs a 'prompt' string or a 'messages' list.", "prompt")
        alias = body.get("model") if body.get("model") in live.aliases else next(iter(live.aliases))
        breakers = gateway.services.monitor.breaker_states(str(alias))
        found = await asyncio.to_thread(
            gateway.explainer.explain, live.classifier, live.policy, text, breakers
        )
        return JSONResponse({"model": alias, **found.as_json()})

    @app.get("/admin/config")
    async def running_config(request: Request) -> Response:
        auth.check_admin(request.headers.get("authorization"))
        live = current(request).services.live.current
        body = {"sha256": live.digest, "config": redacted(live.settings.model_dump())}
        return JSONResponse(body)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad("The body is not valid JSON.", None) from None
    if not isinstance(value, dict):
        raise _bad("The body must be a JSON object.", None)
    return value


def _messages(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    messages = body.get("messages")
    if messages is None:
        return None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _bad("'messages' must be a list of objects.", "messages")
    return messages


def _bad(message: str, param: str | None) -> GatewayError:
    return GatewayError(400, message, type_="invalid_request_error", code="invalid_request",
                        param=param)  # fmt: skip


def redacted(value: Any) -> Any:
    """Credentials in URLs become `***`: the userinfo (parsed, so a password with `@` in it
    goes whole) and the values of query parameters that name a secret. Upstream keys never
    enter the settings (only the names of their environment variables do)."""
    if isinstance(value, str):
        return _redact_url(value) if "://" in value else value
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def _redact_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "***"  # not parseable: do not guess which part is secret
    netloc = parts.netloc
    if "@" in netloc:
        shown = f"[{host}]" if host and ":" in host else host or ""
        netloc = "***@" + shown + (f":{port}" if port else "")
    query = urlencode(
        [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in parse_qsl(parts.query, True)],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

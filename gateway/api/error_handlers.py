"""Every error the app raises becomes an OpenAI-style error body; nothing crashes the process."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.serving.errors import ClientError, ClientErrorType, GatewayError
from gateway.serving.metrics import GatewayMetrics

log = logging.getLogger("distillgate.app")


def add_error_handlers(app: FastAPI, metrics: GatewayMetrics) -> None:
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

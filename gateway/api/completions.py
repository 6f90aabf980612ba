"""The OpenAI-compatible surface: /v1/chat/completions, /v1/completions and /v1/models."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.auth import Authenticator
from gateway.lifespan import current
from gateway.serving.request_body import Endpoint

# OpenAPI description of the proxied bodies: the gateway reads them itself (request_body).
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


def add_routes(app: FastAPI, auth: Authenticator) -> None:
    @app.post("/v1/chat/completions", openapi_extra=_CHAT_BODY, response_model=None)
    async def chat_completions(request: Request) -> Response:
        return await current(request).proxy.handle(request, Endpoint.CHAT)

    @app.post("/v1/completions", openapi_extra=_COMPLETIONS_BODY, response_model=None)
    async def completions(request: Request) -> Response:
        return await current(request).proxy.handle(request, Endpoint.COMPLETIONS)

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        auth.check_client(request.headers.get("authorization"))
        gateway = current(request)
        created = gateway.started_at
        data = [
            {"id": alias, "object": "model", "created": created, "owned_by": "distillgate"}
            for alias in gateway.services.live.current.settings.models
        ]
        return JSONResponse({"object": "list", "data": data})

"""OpenAI-style error bodies and the gateway's own error type."""

from __future__ import annotations

from enum import StrEnum

import orjson
from starlette.responses import Response


class ClientErrorType(StrEnum):
    """Why the gateway refused a request itself; a closed vocabulary used as a metric label."""

    AUTH = "auth"
    MALFORMED_JSON = "malformed_json"
    INVALID_REQUEST = "invalid_request"
    UNKNOWN_MODEL = "unknown_model"
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"


class GatewayError(Exception):
    """An error the client sees as `{"error": {...}}` with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param)

    def response(self, extra_headers: dict[str, str] | None = None) -> Response:
        headers = {**self.headers, **(extra_headers or {})}
        return Response(self.body(), self.status, headers, media_type="application/json")


class ClientError(GatewayError):
    """A request the gateway refuses before any upstream sees it."""

    def __init__(
        self,
        kind: ClientErrorType,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        type_ = {
            401: "authentication_error",
            404: "not_found_error",
            405: "invalid_request_error",
            413: "invalid_request_error",
        }.get(status, "invalid_request_error")
        super().__init__(status, message, type_=type_, code=code, param=param, headers=headers)
        self.kind = kind


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def sse_error_event(message: str, type_: str, code: str) -> bytes:
    """An error sent inside an already-started SSE stream (vLLM and OpenAI do the same)."""
    return b"data: " + error_body(message, type_, code) + b"\n\n"

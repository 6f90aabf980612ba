"""The closed set of ways an upstream call can fail (a metric label)."""

from __future__ import annotations

from enum import StrEnum


class UpstreamErrorType(StrEnum):
    CONNECT = "connect"
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    STREAM_INTERRUPTED = "stream_interrupted"


class UpstreamFailure(Exception):
    """The upstream gave no usable HTTP answer."""

    def __init__(self, error_type: UpstreamErrorType, detail: str) -> None:
        super().__init__(detail)
        self.error_type = error_type
        self.detail = detail

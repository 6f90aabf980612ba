"""Serves one completion request: parse, decide, call the upstream (with fallback), respond."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from gateway import request_body
from gateway.auth import Authenticator
from gateway.errors import ClientError, ClientErrorType, GatewayError
from gateway.metrics import GatewayMetrics
from gateway.relay import RelayOutcome, StreamRelay
from gateway.request_body import Endpoint, ParsedRequest
from gateway.upstream import OpenStream, Upstream, UpstreamErrorType, UpstreamFailure, UpstreamReply
from router.policy import Policy, decide
from router.types import Decision, Reason, Target

log = logging.getLogger("distillgate.proxy")


@dataclass(frozen=True)
class AliasUpstreams:
    student: Upstream
    teacher: Upstream

    def get(self, target: Target) -> Upstream:
        return self.student if target is Target.STUDENT else self.teacher


@dataclass(slots=True)
class _Call:
    """Book-keeping for one request as it moves through the gateway."""

    request_id: str
    started: float
    alias: str = "_unknown"
    decision: Decision | None = None
    route: Target | None = None
    reason: Reason | None = None
    upstream_wait: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class Proxy:
    def __init__(
        self,
        aliases: Mapping[str, AliasUpstreams],
        metrics: GatewayMetrics,
        auth: Authenticator,
        policy: Policy,
        breaker_state: Callable[[str], Mapping[str, str]],
        max_body_bytes: int,
        capture_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._aliases = aliases
        self._metrics = metrics
        self._auth = auth
        self._policy = policy
        self._breakers = breaker_state
        self._max_body = max_body_bytes
        self._capture = capture_bytes
        self._clock = clock

    async def handle(self, request: Request, endpoint: Endpoint) -> Response | StreamRelay:
        call = _Call(request.headers.get("x-request-id") or uuid.uuid4().hex, self._clock())
        try:
            self._auth.check_client(request.headers.get("authorization"))
            raw = await request_body.read_limited(
                request.stream(), request.headers.get("content-length"), self._max_body
            )
            parsed = request_body.parse(raw, endpoint)
            pair = self._aliases.get(parsed.alias)
            if pair is None:
                raise _unknown_model(parsed.alias)
        except ClientError as exc:
            self._metrics.client_errors.labels(exc.kind.value).inc()
            log.info("request_id=%s refused status=%d: %s", call.request_id, exc.status, exc)
            return exc.response({"x-request-id": call.request_id})
        call.alias = parsed.alias
        self._metrics.in_flight.labels(call.alias).inc()
        handed_off = False
        try:
            response = await self._serve(parsed, pair, call)
            handed_off = isinstance(response, StreamRelay)
            return response
        finally:
            if not handed_off:  # a stream's in-flight count ends when the relay ends
                self._metrics.in_flight.labels(call.alias).dec()

    async def _serve(
        self, parsed: ParsedRequest, pair: AliasUpstreams, call: _Call
    ) -> Response | StreamRelay:
        features = request_body.features(parsed)
        decision = decide(features, self._policy, self._breakers(parsed.alias))
        call.decision = decision
        targets = [decision.target]
        if decision.target is Target.STUDENT:
            targets.append(Target.TEACHER)
        failure: UpstreamFailure | None = None
        for attempt, target in enumerate(targets):
            call.route = target
            call.reason = Reason.FALLBACK if attempt else decision.reason
            upstream = pair.get(target)
            parsed.body["model"] = upstream.model
            payload = orjson.dumps(parsed.body)
            try:
                answer = await self._attempt(upstream, parsed, payload, call)
            except UpstreamFailure as exc:
                failure = exc
                self._upstream_failed(call, target, exc.error_type, exc.detail)
                continue
            if isinstance(answer, UpstreamReply) and answer.status >= 500:
                failure = UpstreamFailure(UpstreamErrorType.HTTP_5XX, f"HTTP {answer.status}")
                self._upstream_failed(call, target, UpstreamErrorType.HTTP_5XX, failure.detail)
                continue
            if attempt:
                self._metrics.fallbacks.labels(call.alias).inc()
            return self._respond(answer, call)
        assert failure is not None
        return self._exhausted(call, failure)

    async def _attempt(
        self, upstream: Upstream, parsed: ParsedRequest, payload: bytes, call: _Call
    ) -> UpstreamReply | OpenStream:
        path = "/" + parsed.endpoint.value
        began = self._clock()
        try:
            if parsed.stream:
                return await upstream.open_stream(path, payload, call.request_id)
            return await upstream.post(path, payload, call.request_id)
        finally:
            call.upstream_wait += self._clock() - began

    def _respond(self, answer: UpstreamReply | OpenStream, call: _Call) -> Response | StreamRelay:
        assert call.route is not None and call.reason is not None and call.decision is not None
        headers = {
            **answer.headers,
            "x-request-id": call.request_id,
            "x-distillgate-route": call.route.value,
            "x-distillgate-reason": call.reason.value,
            "x-distillgate-category": call.decision.category,
        }
        if isinstance(answer, OpenStream):
            headers.setdefault("content-type", "text/event-stream; charset=utf-8")
            headers["cache-control"] = "no-cache"
            return StreamRelay(
                answer,
                headers,
                self._capture,
                self._clock,
                lambda outcome: self._stream_done(call, outcome),
            )
        if 400 <= answer.status < 500:
            self._metrics.upstream_errors.labels(
                call.alias, call.route.value, UpstreamErrorType.HTTP_4XX.value
            ).inc()
        media = headers.pop("content-type", "application/json")
        return Response(
            answer.content,
            answer.status,
            headers,
            media_type=media,
            background=BackgroundTask(self._reply_done, call, answer),
        )

    async def _reply_done(self, call: _Call, answer: UpstreamReply) -> None:
        # async on purpose: Starlette runs a sync background task in a worker thread.
        assert call.route is not None
        self._record(call, answer.status, self._clock(), first_sent=None)
        if answer.status == 200:
            self._count_usage(call, _usage_from_json(answer.content))

    def _stream_done(self, call: _Call, outcome: RelayOutcome) -> None:
        assert call.route is not None
        self._metrics.in_flight.labels(call.alias).dec()
        if outcome.disconnected:
            self._metrics.client_disconnects.labels(call.alias, call.route.value).inc()
            log.info("request_id=%s client disconnected; upstream cancelled", call.request_id)
        elif outcome.error_type is not None:
            self._upstream_failed(call, call.route, outcome.error_type, "stream broke off")
        self._record(call, 200, outcome.ended_at, outcome.first_sent_at)
        if not outcome.truncated:
            self._count_usage(call, _usage_from_sse(bytes(outcome.captured)))

    def _record(self, call: _Call, status: int, ended: float, first_sent: float | None) -> None:
        assert call.route is not None and call.reason is not None
        route = call.route.value
        m = self._metrics
        m.requests.labels(call.alias, route, call.reason.value, f"{status // 100}xx").inc()
        m.duration.labels(call.alias, route).observe(ended - call.started)
        if first_sent is not None:
            m.ttft.labels(call.alias, route).observe(first_sent - call.started)
            m.overhead.labels(call.alias).observe(
                max(0.0, first_sent - call.started - call.upstream_wait)
            )
        else:
            m.overhead.labels(call.alias).observe(
                max(0.0, ended - call.started - call.upstream_wait)
            )

    def _count_usage(self, call: _Call, usage: Mapping[str, object] | None) -> None:
        if not usage or call.route is None:
            return
        for kind in ("prompt", "completion"):
            value = usage.get(f"{kind}_tokens")
            if isinstance(value, int) and value > 0:
                self._metrics.tokens.labels(call.alias, call.route.value, kind).inc(value)

    def _upstream_failed(
        self, call: _Call, target: Target, error_type: UpstreamErrorType, detail: str
    ) -> None:
        self._metrics.upstream_errors.labels(call.alias, target.value, error_type.value).inc()
        log.warning(
            "request_id=%s model=%s backend=%s upstream error=%s: %s",
            call.request_id,
            call.alias,
            target.value,
            error_type.value,
            detail,
        )

    def _exhausted(self, call: _Call, failure: UpstreamFailure) -> Response:
        timeout = failure.error_type is UpstreamErrorType.TIMEOUT
        status = 504 if timeout else 502
        error = GatewayError(
            status,
            f"No upstream could answer for model '{call.alias}' "
            f"(last: {call.route.value if call.route else '?'}, {failure.error_type.value}).",
            type_="upstream_error",
            code="upstream_timeout" if timeout else "upstream_unavailable",
        )
        self._record(call, status, self._clock(), first_sent=None)
        headers = {"x-request-id": call.request_id}
        if call.route is not None and call.reason is not None:
            headers["x-distillgate-route"] = call.route.value
            headers["x-distillgate-reason"] = call.reason.value
        return error.response(headers)


def _unknown_model(alias: str) -> ClientError:
    return ClientError(
        ClientErrorType.UNKNOWN_MODEL,
        404,
        f"The model '{alias}' does not exist on this gateway; GET /v1/models lists the models.",
        code="model_not_found",
        param="model",
    )


def _usage_from_json(content: bytes) -> Mapping[str, object] | None:
    try:
        usage = orjson.loads(content).get("usage")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return usage if isinstance(usage, dict) else None


def _usage_from_sse(captured: bytes) -> Mapping[str, object] | None:
    """The usage chunk, when the client asked for it, is the last data event before [DONE]."""
    at = captured.rfind(b'"usage":')
    if at < 0:
        return None
    start = captured.rfind(b"data: ", 0, at)
    end = captured.find(b"\n", at)
    if start < 0 or end < 0:
        return None
    return _usage_from_json(captured[start + 6 : end])

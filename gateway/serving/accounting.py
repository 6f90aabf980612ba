"""Per-request bookkeeping: what one call did, turned into metrics and log lines."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from gateway.serving.metrics import GatewayMetrics
from gateway.serving.relay import RelayOutcome
from gateway.upstream.client import UpstreamErrorType, UpstreamFailure, UpstreamReply
from router.types import Decision, Reason, Target

log = logging.getLogger("distillgate.proxy")


@dataclass(slots=True)
class Call:
    """One request as it moves through the gateway."""

    request_id: str
    started: float
    alias: str = "_unknown"
    decision: Decision | None = None
    route: Target | None = None
    reason: Reason | None = None
    upstream_wait: float = 0.0
    failure: UpstreamFailure | None = None
    # Called with what the client received (bytes, is_sse) once it was served in full.
    on_served: Callable[[bytes, bool], None] | None = None
    student_answer: str | None = None  # the student's answer an escalation replaced


class Accounting:
    def __init__(self, metrics: GatewayMetrics, clock: Callable[[], float]) -> None:
        self.metrics = metrics
        self._clock = clock

    def decided(self, call: Call, decision: Decision) -> None:
        call.decision = decision
        self.metrics.decisions.labels(
            call.alias, decision.category, decision.target.value, decision.reason.value
        ).inc()

    def escalated(self, call: Call, reason: Reason) -> None:
        category = call.decision.category if call.decision else "_unknown"
        self.metrics.escalations.labels(call.alias, category, reason.value).inc()
        log.info("request_id=%s escalated to the teacher: %s", call.request_id, reason.value)

    def upstream_failed(self, call: Call, target: Target, failure: UpstreamFailure) -> None:
        call.failure = failure
        self.metrics.upstream_errors.labels(
            call.alias, target.value, failure.error_type.value
        ).inc()
        log.warning(
            "request_id=%s model=%s backend=%s upstream error=%s: %s",
            call.request_id,
            call.alias,
            target.value,
            failure.error_type.value,
            failure.detail,
        )

    async def reply_done(self, call: Call, reply: UpstreamReply) -> None:
        # async on purpose: Starlette runs a sync background task in a worker thread.
        assert call.route is not None
        if 400 <= reply.status < 500:
            self.metrics.upstream_errors.labels(
                call.alias, call.route.value, UpstreamErrorType.HTTP_4XX.value
            ).inc()
        self.record(call, reply.status, self._clock(), first_sent=None)
        if reply.status == 200:
            self._count_usage(call, _usage_from_json(reply.content))
            if call.on_served is not None:
                call.on_served(reply.content, False)

    def stream_done(self, call: Call, outcome: RelayOutcome) -> None:
        assert call.route is not None
        self.metrics.in_flight.labels(call.alias).dec()
        if outcome.disconnected:
            self.metrics.client_disconnects.labels(call.alias, call.route.value).inc()
            log.info("request_id=%s client disconnected; upstream cancelled", call.request_id)
        elif outcome.error_type is not None:
            failure = UpstreamFailure(outcome.error_type, "stream broke off")
            self.upstream_failed(call, call.route, failure)
        self.record(call, 200, outcome.ended_at, outcome.first_sent_at)
        if outcome.truncated:
            return
        captured = bytes(outcome.captured)
        self._count_usage(call, _usage_from_sse(captured))
        complete = not outcome.disconnected and outcome.error_type is None
        if complete and call.on_served is not None:
            call.on_served(captured, True)

    def record(self, call: Call, status: int, ended: float, first_sent: float | None) -> None:
        route = call.route.value if call.route else "none"
        reason = call.reason.value if call.reason else "none"
        m = self.metrics
        m.requests.labels(call.alias, route, reason, f"{status // 100}xx").inc()
        m.duration.labels(call.alias, route).observe(ended - call.started)
        until = ended if first_sent is None else first_sent
        if first_sent is not None:
            m.ttft.labels(call.alias, route).observe(first_sent - call.started)
        m.overhead.labels(call.alias).observe(max(0.0, until - call.started - call.upstream_wait))

    def _count_usage(self, call: Call, usage: Mapping[str, object] | None) -> None:
        if not usage or call.route is None:
            return
        for kind in ("prompt", "completion"):
            value = usage.get(f"{kind}_tokens")
            if isinstance(value, int) and value > 0:
                self.metrics.tokens.labels(call.alias, call.route.value, kind).inc(value)


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

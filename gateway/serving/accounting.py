"""Per-request bookkeeping: what one request did, turned into metrics and log lines."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.serving.attempts import Served
from gateway.serving.metrics import GatewayMetrics
from gateway.serving.relay import RelayOutcome
from gateway.upstream.client import UpstreamErrorType, UpstreamFailure, UpstreamReply
from monitors import answers
from router.types import Decision, Reason, Target

log = logging.getLogger("distillgate.proxy")

# Called with what the client received (bytes, is_sse) once it was served in full.
OnServed = Callable[[bytes, bool], None]


@dataclass(frozen=True, slots=True)
class Call:
    """One request's identity: who asked, when, under which id."""

    request_id: str
    started: float
    alias: str


class Accounting:
    def __init__(self, metrics: GatewayMetrics, clock: Callable[[], float]) -> None:
        self.metrics = metrics
        self._clock = clock

    def decided(self, call: Call, decision: Decision) -> None:
        self.metrics.decisions.labels(
            call.alias, decision.category, decision.target.value, decision.reason.value
        ).inc()

    def escalated(self, call: Call, category: str, reason: Reason) -> None:
        self.metrics.escalations.labels(call.alias, category, reason.value).inc()
        log.info("request_id=%s escalated to the teacher: %s", call.request_id, reason.value)

    def fell_back(self, call: Call) -> None:
        self.metrics.fallbacks.labels(call.alias).inc()

    def upstream_failed(self, call: Call, target: Target, failure: UpstreamFailure) -> None:
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

    async def reply_done(
        self, call: Call, served: Served, reply: UpstreamReply, on_served: OnServed | None
    ) -> None:
        # async on purpose: Starlette runs a sync background task in a worker thread.
        target = served.attempt.target
        if 400 <= reply.status < 500:
            self.metrics.upstream_errors.labels(
                call.alias, target.value, UpstreamErrorType.HTTP_4XX.value
            ).inc()
        self.record(call, served, reply.status, self._clock(), first_sent=None)
        if reply.status == 200:
            self._count_usage(call, target, answers.usage_of_json(reply.content))
            if on_served is not None:
                on_served(reply.content, False)

    def stream_done(
        self, call: Call, served: Served, outcome: RelayOutcome, on_served: OnServed | None
    ) -> None:
        target = served.attempt.target
        self.metrics.in_flight.labels(call.alias).dec()
        if outcome.disconnected:
            self.metrics.client_disconnects.labels(call.alias, target.value).inc()
            log.info("request_id=%s client disconnected; upstream cancelled", call.request_id)
        elif outcome.error_type is not None:
            failure = UpstreamFailure(outcome.error_type, "stream broke off")
            self.upstream_failed(call, target, failure)
        self.record(call, served, 200, outcome.ended_at, outcome.first_sent_at)
        if outcome.truncated:
            return
        captured = bytes(outcome.captured)
        self._count_usage(call, target, answers.usage_of_sse(captured))
        complete = not outcome.disconnected and outcome.error_type is None
        if complete and on_served is not None:
            on_served(captured, True)

    def record(
        self, call: Call, served: Served, status: int, ended: float, first_sent: float | None
    ) -> None:
        """The one record of a finished request: the attempt that answered (or failed last)."""
        route, reason = served.attempt.target.value, served.attempt.reason.value
        m = self.metrics
        m.requests.labels(call.alias, route, reason, f"{status // 100}xx").inc()
        m.duration.labels(call.alias, route).observe(ended - call.started)
        until = ended if first_sent is None else first_sent
        if first_sent is not None:
            m.ttft.labels(call.alias, route).observe(first_sent - call.started)
        m.overhead.labels(call.alias).observe(max(0.0, until - call.started - served.waited))

    def _count_usage(self, call: Call, target: Target, usage: Mapping[str, Any] | None) -> None:
        if not usage:
            return
        for kind in ("prompt", "completion"):
            value = usage.get(f"{kind}_tokens")
            if isinstance(value, int) and value > 0:
                self.metrics.tokens.labels(call.alias, target.value, kind).inc(value)

"""Per-request bookkeeping: one record per request, usage from JSON and SSE answers, the
shadow hand-off only for complete answers."""

from __future__ import annotations

import asyncio

import orjson
from prometheus_client import CollectorRegistry

from gateway.serving.accounting import Accounting, Call
from gateway.serving.attempts import Attempt, Served
from gateway.serving.metrics import GatewayMetrics
from gateway.serving.relay import RelayOutcome
from gateway.upstream.client import UpstreamErrorType, UpstreamReply
from monitors import answers
from router.types import Reason, Target
from tests.fakes.clock import Clock

CALL = Call("req-1", started=100.0, alias="assistant")
USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


def setup() -> tuple[Accounting, CollectorRegistry, Clock]:
    registry, clock = CollectorRegistry(), Clock(100.5)
    return Accounting(GatewayMetrics(registry), clock), registry, clock


def served(target: Target = Target.STUDENT, reason: Reason = Reason.POLICY) -> Served:
    reply = UpstreamReply(200, {}, b"")
    return Served(Attempt(target, reason, reply, None, 0.3), waited=0.4)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_a_json_reply_is_recorded_once_with_its_usage_and_handed_to_the_shadow() -> None:
    acct, registry, _ = setup()
    content = orjson.dumps({"choices": [{"message": {"content": "hi"}}], "usage": USAGE})
    handed: list[tuple[bytes, bool]] = []
    reply = UpstreamReply(200, {}, content)
    asyncio.run(acct.reply_done(CALL, served(), reply, lambda b, sse: handed.append((b, sse))))
    labels = {"model": "assistant", "route": "student"}
    assert value(registry, "distillgate_requests_total", **labels, reason="policy",
                 status_class="2xx") == 1  # fmt: skip
    assert value(registry, "distillgate_tokens_total", model="assistant", backend="student",
                 kind="completion") == 5  # fmt: skip
    assert value(registry, "distillgate_request_duration_seconds_sum", **labels) == 0.5
    # the gateway's own time: elapsed minus the 0.4 s spent waiting on upstreams
    overhead = value(registry, "distillgate_overhead_seconds_sum", model="assistant")
    assert abs(overhead - 0.1) < 1e-9
    assert handed == [(content, False)]


def test_an_upstream_4xx_is_counted_and_not_shadowed() -> None:
    acct, registry, _ = setup()
    handed: list[bytes] = []
    reply = UpstreamReply(400, {}, b'{"error": {"message": "bad"}}')
    asyncio.run(acct.reply_done(CALL, served(), reply, lambda b, _: handed.append(b)))
    assert value(registry, "distillgate_upstream_errors_total", model="assistant",
                 backend="student", error_type="http_4xx") == 1  # fmt: skip
    assert value(registry, "distillgate_requests_total", model="assistant", route="student",
                 reason="policy", status_class="4xx") == 1  # fmt: skip
    assert handed == []


def sse(*events: dict[str, object]) -> bytearray:
    return bytearray(b"".join(answers.encode_event(e) for e in events) + b"data: [DONE]\n\n")


def test_a_complete_stream_counts_usage_and_first_byte_time() -> None:
    acct, registry, _ = setup()
    handed: list[tuple[bytes, bool]] = []
    captured = sse({"choices": [{"delta": {"content": "a"}}]}, {"choices": [], "usage": USAGE})
    outcome = RelayOutcome(captured, first_sent_at=100.2, ended_at=101.0)
    acct.stream_done(CALL, served(Target.TEACHER, Reason.HIGH_RISK_SIGNAL), outcome,
                     lambda b, is_sse: handed.append((b, is_sse)))  # fmt: skip
    assert value(registry, "distillgate_tokens_total", model="assistant", backend="teacher",
                 kind="prompt") == 7  # fmt: skip
    ttft = value(registry, "distillgate_time_to_first_token_seconds_sum", model="assistant",
                 route="teacher")  # fmt: skip
    assert abs(ttft - 0.2) < 1e-9
    assert value(registry, "distillgate_requests_total", model="assistant", route="teacher",
                 reason="high_risk_signal", status_class="2xx") == 1  # fmt: skip
    assert handed == [(bytes(captured), True)]


def test_a_broken_disconnected_or_truncated_stream_is_never_shadowed() -> None:
    acct, registry, _ = setup()
    handed: list[bytes] = []
    broken = RelayOutcome(sse(), error_type=UpstreamErrorType.STREAM_INTERRUPTED, ended_at=101)
    gone = RelayOutcome(sse(), disconnected=True, ended_at=101)
    cut = RelayOutcome(sse({"choices": [], "usage": USAGE}), truncated=True, ended_at=101)
    for outcome in (broken, gone, cut):
        acct.stream_done(CALL, served(), outcome, lambda b, _: handed.append(b))
    assert handed == []
    assert value(registry, "distillgate_upstream_errors_total", model="assistant",
                 backend="student", error_type="stream_interrupted") == 1  # fmt: skip
    assert value(registry, "distillgate_client_disconnects_total", model="assistant",
                 route="student") == 1  # fmt: skip
    assert value(registry, "distillgate_tokens_total", model="assistant", backend="student",
                 kind="prompt") == 0  # a truncated capture's usage is not read  # fmt: skip

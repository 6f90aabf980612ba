"""The gateway's Prometheus metrics, registered on an injected CollectorRegistry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# Latency buckets from sub-millisecond (gateway overhead) to long generations.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)


class GatewayMetrics:
    """Every label is bounded: model is a configured alias, the rest are closed vocabularies."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "distillgate_requests",
            "Requests served, by model alias, upstream that answered, reason and status class.",
            ["model", "route", "reason", "status_class"],
            registry=registry,
        )
        self.client_errors = Counter(
            "distillgate_client_errors",
            "Requests refused by the gateway before any upstream saw them.",
            ["error_type"],
            registry=registry,
        )
        self.duration = Histogram(
            "distillgate_request_duration_seconds",
            "Time from request received to last byte sent.",
            ["model", "route"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.ttft = Histogram(
            "distillgate_time_to_first_token_seconds",
            "Streaming: time from request received to the first chunk sent to the client.",
            ["model", "route"],
            buckets=_LATENCY,
            registry=registry,
        )
        self.overhead = Histogram(
            "distillgate_overhead_seconds",
            "Time the gateway itself adds: elapsed time minus time spent waiting on upstreams "
            "(streaming: up to the first chunk).",
            ["model"],
            buckets=_OVERHEAD,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "distillgate_upstream_errors",
            "Failed upstream calls, by backend and error type.",
            ["model", "backend", "error_type"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "distillgate_fallbacks",
            "Requests retried on the teacher after the student failed before any byte was sent.",
            ["model"],
            registry=registry,
        )
        self.tokens = Counter(
            "distillgate_tokens",
            "Tokens reported by upstream usage, by backend and kind (prompt|completion).",
            ["model", "backend", "kind"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "distillgate_in_flight_requests",
            "Requests being served right now.",
            ["model"],
            registry=registry,
        )
        self.decisions = Counter(
            "distillgate_route_decisions",
            "Routing decisions, by model alias, risk category, target and reason.",
            ["model", "category", "route", "reason"],
            registry=registry,
        )
        self.escalations = Counter(
            "distillgate_escalations",
            "Student answers handed to the teacher after a check, by category and signal "
            "(low_confidence, student_refusal).",
            ["model", "category", "reason"],
            registry=registry,
        )
        self.guard = Counter(
            "distillgate_guard_requests",
            "Calls to the guard model, by outcome: safe, unsafe, error, timeout.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("safe", "unsafe", "error", "timeout"):
            self.guard.labels(outcome)
        self.guard_duration = Histogram(
            "distillgate_guard_duration_seconds",
            "Time waiting on the guard model (bounded by routing.guard.timeout_ms).",
            buckets=_LATENCY,
            registry=registry,
        )
        self.client_disconnects = Counter(
            "distillgate_client_disconnects",
            "Streams the client closed before the end; the upstream request was cancelled.",
            ["model", "route"],
            registry=registry,
        )


class LoopTasksCollector(Collector):
    """asyncio tasks alive in the serving loop, read at scrape time (leaks show as a slope)."""

    def collect(self) -> Iterator[Metric]:
        try:
            count = len(asyncio.all_tasks())
        except RuntimeError:  # scraped from outside a running loop
            return
        family = GaugeMetricFamily("distillgate_event_loop_tasks", "asyncio tasks alive.")
        family.add_metric([], count)
        yield family

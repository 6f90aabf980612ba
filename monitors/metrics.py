"""The monitor's metrics: shadow counters, divergence histograms, and gap gauges at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitors.gap import GapMonitor
from router.types import BreakerState

_GRID = tuple(round(0.1 * i, 1) for i in range(1, 11))  # a fixed 0-1 grid


class StateMetrics:
    """The shared state store (Redis): up or not, and what failed."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "distillgate_state_up",
            "1 when the state store answered its last call (always 1 in memory).",
            registry=registry,
        )
        self.errors = Counter(
            "distillgate_state_errors",
            "Failed state-store calls by operation: record, refresh, enqueue, consume.",
            ["operation"],
            registry=registry,
        )
        for operation in ("record", "refresh", "enqueue", "consume"):
            self.errors.labels(operation)  # exported at 0 from the start: rate() works at once
        self.bad_entries = Counter(
            "distillgate_state_bad_entries",
            "Entries in the shared state that could not be read and were skipped, by kind: "
            "window (a name without the separator), breaker (an unknown state), sample.",
            ["kind"],
            registry=registry,
        )
        for kind in ("window", "breaker", "sample"):
            self.bad_entries.labels(kind)
        self.redis_used = Gauge(
            "distillgate_state_redis_used_memory_bytes",
            "Redis used_memory, read every refresh_s * 20 (the shadow stream and the windows).",
            registry=registry,
        )
        self.redis_max = Gauge(
            "distillgate_state_redis_maxmemory_bytes",
            "Redis maxmemory (0: no limit set); alert before used memory reaches it.",
            registry=registry,
        )


# Which funnel stage a drop reason belongs to.
_STAGE = {
    "queue_full": "shed", "queue_bytes": "shed", "state_unavailable": "shed",
    "budget": "over_budget", "unscorable": "unscorable", "upstream_error": "failed",
    "error": "failed",
}  # fmt: skip


class ShadowMetrics:
    def offer(self, alias: str, category: str) -> None:
        self.offered.labels(alias, category).inc()
        self.funnel.labels(alias, category, "sampled").inc()

    def drop(self, alias: str, category: str, reason: str) -> None:
        self.dropped.labels(alias, reason).inc()
        self.funnel.labels(alias, category, _STAGE.get(reason, "failed")).inc()

    def declare(self, alias: str, category: str) -> None:
        """Export a category's funnel and truncation counters at 0 before any job."""
        self.truncated.labels(alias, category)
        for stage in ("sampled", "shed", "over_budget", "unscorable", "failed", "scored"):
            self.funnel.labels(alias, category, stage)

    def complete(self, alias: str, category: str) -> None:
        self.completed.labels(alias, category).inc()
        self.funnel.labels(alias, category, "scored").inc()

    def __init__(self, registry: CollectorRegistry) -> None:
        self.offered = Counter(
            "distillgate_shadow_offered",
            "Served requests sampled for shadowing and offered to the shadow queue.",
            ["model", "category"],
            registry=registry,
        )
        self.completed = Counter(
            "distillgate_shadow_completed",
            "Shadow jobs scored into the gap windows.",
            ["model", "category"],
            registry=registry,
        )
        self.dropped = Counter(
            "distillgate_shadow_dropped",
            "Shadow jobs dropped by reason: queue_full, queue_bytes, budget, upstream_error, "
            "unscorable, state_unavailable, error.",
            ["model", "reason"],
            registry=registry,
        )
        self.funnel = Counter(
            "distillgate_shadow_funnel",
            "Per category, what became of the sampled requests: sampled, shed (queue full or "
            "shared state down), over_budget, unscorable, failed (an upstream or scoring "
            "error), scored. How much of a category's traffic its gap stands for.",
            ["model", "category", "stage"],
            registry=registry,
        )
        self.truncated = Counter(
            "distillgate_shadow_truncated",
            "Scored pairs whose request or answers were cut to shadow.max_text_chars first.",
            ["model", "category"],
            registry=registry,
        )
        self.divergence = Histogram(
            "distillgate_divergence",
            "Per-pair divergence (1 - agreement) by category and scorer; scorer=combined is "
            "the weighted pair divergence.",
            ["model", "category", "scorer"],
            buckets=_GRID,
            registry=registry,
        )
        self.judged = Counter(
            "distillgate_shadow_judged",
            "Pairs sent to the teacher as a judge, by outcome: same, different, inconsistent "
            "(the two orders disagree), unparsable, unanswered (budget or upstream error).",
            ["model", "outcome"],
            registry=registry,
        )
        self.illusions = Counter(
            "distillgate_illusions",
            "Pairs whose surface looks like the teacher's while the judgment disagrees.",
            ["model", "category"],
            registry=registry,
        )
        self.judgment_flips = Counter(
            "distillgate_judgment_flips",
            "Pairs where a judgment scorer disagrees (refusal, final answer, structure).",
            ["model", "category"],
            registry=registry,
        )
        self.teacher_spent = Counter(
            "distillgate_teacher_budget_spent",
            "What shadowing spent on the teacher: requests and tokens.",
            ["kind"],
            registry=registry,
        )


class GapCollector(Collector):
    """Gauges computed from the windows when Prometheus scrapes."""

    def __init__(self, monitor: GapMonitor, queue_depth: Callable[[], int]) -> None:
        self._monitor = monitor
        self._depth = queue_depth

    def collect(self) -> Iterator[Metric]:
        labels = ["model", "category"]
        g = {
            name: GaugeMetricFamily(f"distillgate_{name}", help_, labels=labels)
            for name, help_ in (
                ("gap", "Student divergence above the teacher's noise floor (window mean)."),
                ("gap_lower", "Lower bound of the gap's confidence interval."),
                ("gap_upper", "Upper bound of the gap's confidence interval."),
                ("noise_floor", "Teacher-vs-teacher divergence (window mean)."),
                ("gap_samples", "Scored student-teacher pairs in the window."),
                ("gap_threshold", "The category's acceptable gap (max_gap)."),
                ("illusion_rate", "Share of pairs that look alike but judge differently."),
                ("advantage", "Discriminator advantage 2*accuracy-1 telling teacher from student."),
                ("surface_similarity", "Mean surface agreement of the pairs in the window."),
            )
        }
        breaker = GaugeMetricFamily(
            "distillgate_breaker_state",
            "1 for the category's current breaker state (open, closed, insufficient).",
            labels=[*labels, "state"],
        )
        for alias, category in self._monitor.windows():
            snap = self._monitor.snapshot(alias, category)
            key = [alias, category]
            g["gap_samples"].add_metric(key, snap.n)
            g["gap_threshold"].add_metric(key, snap.max_gap)
            for state in BreakerState:
                breaker.add_metric([*key, state.value], float(snap.breaker is state))
            if snap.n:
                g["illusion_rate"].add_metric(key, snap.illusion.value)
                g["surface_similarity"].add_metric(key, snap.surface.value)
            if snap.noise_n:
                g["noise_floor"].add_metric(key, snap.noise_floor.value)
            if snap.advantage.n:
                g["advantage"].add_metric(key, snap.advantage.value)
            if snap.breaker is not BreakerState.INSUFFICIENT:
                g["gap"].add_metric(key, snap.gap.value)
                g["gap_lower"].add_metric(key, snap.gap.lower)
                g["gap_upper"].add_metric(key, snap.gap.upper)
        depth = GaugeMetricFamily(
            "distillgate_shadow_queue_depth", "Shadow jobs waiting in the queue."
        )
        depth.add_metric([], self._depth())
        yield from g.values()
        yield breaker
        yield depth

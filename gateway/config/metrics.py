"""The config's Prometheus metrics: reloads by result and the running config's digest."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Info


class ReloadMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reloads = Counter(
            "distillgate_config_reloads",
            "Config reloads by result: success, unchanged, error, dry_run, dry_run_error.",
            ["result"],
            registry=registry,
        )
        self.info = Info("distillgate_config", "The running config's sha256.", registry=registry)
        self.last_success = Gauge(
            "distillgate_config_last_reload_timestamp_seconds",
            "Unix time the running config was loaded (start-up or last successful reload).",
            registry=registry,
        )

    def applied(self, digest: str, when: float) -> None:
        self.reloads.labels("success").inc()
        self.info.info({"sha256": digest})
        self.last_success.set(when)

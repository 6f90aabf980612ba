"""Config reload without a restart: validate the whole file, then swap it in atomically.

Triggers: SIGHUP, `POST /admin/reload`, and (with `reload.watch`) a change of the file's
mtime, inode or size. A file that fails validation changes nothing. A valid one becomes
the new LiveConfig; requests in flight keep the old one. Gap windows, breakers and the
shadow queue live outside LiveConfig and survive. Upstream clients are rebuilt only when
their connection settings changed; the classifier is retrained only when categories,
keywords or examples changed. A dry run reports what would change and applies nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from gateway.config import files, router_build
from gateway.config.live import LiveConfig, LiveConfigHolder
from gateway.config.load import GUARD_KEY, ConfigError, LoadedConfig, check_files, parse
from gateway.config.metrics import ReloadMetrics
from gateway.config.recent import RecentRequests
from gateway.config.settings import RoutingSettings, Settings
from gateway.upstream.aliases import AliasUpstreams
from gateway.upstream.client import Upstream
from gateway.upstream.guard_client import GuardClient
from monitors.gap import GapMonitor
from monitors.lifecycle import cancel_all
from router.classifier import Classification, Classifier
from router.policy import decide
from router.types import BreakerState, Policy, Target

log = logging.getLogger("distillgate.reload")
RESTART_ONLY = (
    "shadow",
    "monitor.window_s",
    "monitor.min_samples",
    "monitor.confidence",
    "monitor.illusion_surface",
    "monitor.weights",
    "monitor.semantic",
    "state",
    "reload",
)
T = TypeVar("T")


class Closable(Protocol):
    async def aclose(self) -> None: ...


BODY = "<request body>"
BODY_EXAMPLES = "a config sent over HTTP may only name the running config's examples file"


@dataclass
class Reloader:
    holder: LiveConfigHolder
    monitor: GapMonitor
    metrics: ReloadMetrics
    recent: RecentRequests
    environ: Mapping[str, str]
    path: Path | None
    transport: httpx.AsyncBaseTransport | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retired: list[Closable] = field(default_factory=list)  # replaced, not closed yet
    _timers: set[asyncio.Task[None]] = field(default_factory=set)

    async def reload(self, *, dry_run: bool = False, text: bytes | None = None) -> dict[str, Any]:
        """Apply (or with `dry_run` only describe) the config file, or `text` for a dry run.

        Raises ConfigError, with every problem, when the candidate is not valid. Files are
        read and parsed in worker threads with a timeout, so a bad file can neither stall
        traffic nor hold the reload lock.
        """
        async with self._lock:
            old = self.holder.current
            try:
                loaded = await self._candidate(old, text)
                unchanged = loaded.digest == old.digest and not dry_run
                classifier = old.classifier if unchanged else await self._classifier(old, loaded)
            except ConfigError as exc:
                self.metrics.reloads.labels("dry_run_error" if dry_run else "error").inc()
                log.error("config reload rejected, running config kept: %s", exc)
                raise
            if unchanged:
                self.metrics.reloads.labels("unchanged").inc()
                return {"applied": False, "reason": "unchanged", "sha256": old.digest}
            policy = router_build.policy(loaded.settings.routing)
            report = describe(old, loaded.settings, policy, classifier, self.monitor, self.recent)
            if dry_run:
                self.metrics.reloads.labels("dry_run").inc()
                return {"dry_run": True, "sha256": loaded.digest, **report}
            new = LiveConfig(
                loaded.settings,
                loaded.digest,
                self._aliases(old, loaded),
                policy,
                classifier,
                LiveConfig.limits_of(loaded.settings),
                loaded.settings.shadow.noise_floor_rate,
                loaded.sampling_secret,
                self._guard(old, loaded),
            )
            self.holder.swap(new)
            self.monitor.set_thresholds(
                {n: c.max_gap for n, c in loaded.settings.routing.categories.items()}
            )
            self.metrics.applied(loaded.digest, time.time())
            log.info("config reloaded: sha256=%s", loaded.digest[:12])
            if report["restart_needed_for"]:
                log.warning("config reloaded, but these changes need a restart to take "
                            "effect: %s", ", ".join(report["restart_needed_for"]))  # fmt: skip
            return {"applied": True, "sha256": loaded.digest, **report}

    async def aclose(self) -> None:
        await cancel_all(list(self._timers))
        for upstream in self._retired:
            await upstream.aclose()
        self._retired.clear()

    async def _candidate(self, old: LiveConfig, text: bytes | None) -> LoadedConfig:
        """The config file (or a dry run's body) read, parsed and checked, off the loop.

        A body is not expanded from this process's environment (it could name any
        variable), and may only name the running config's examples file."""
        if text is not None:
            loaded = await asyncio.to_thread(parse, text, {}, BODY, expand=False)
            if loaded.settings.routing.examples_file != old.settings.routing.examples_file:
                raise ConfigError(BODY, [f"routing.examples_file: {BODY_EXAMPLES}"])
            return loaded
        if self.path is None:
            raise ConfigError("<none>", ["<file>: this gateway was not started from a file"])
        path, source = self.path, str(self.path)
        raw = await _off_loop(source, "<file>", files.read_bounded, path, files.MAX_CONFIG_BYTES)
        loaded = await asyncio.to_thread(parse, raw, self.environ, source)
        examples = "routing.examples_file"
        await _off_loop(source, examples, check_files, loaded.settings, path.parent, source)
        return loaded

    async def _classifier(self, old: LiveConfig, loaded: LoadedConfig) -> Classifier:
        routing = loaded.settings.routing
        if _training_inputs(old.settings.routing) == _training_inputs(routing):
            return old.classifier
        base = self.path.parent if self.path else Path()
        # Training is CPU work of about a second: off the event loop, so traffic flows on.
        try:
            parts = await asyncio.to_thread(router_build.build, routing, base)
        except files.FileProblem as exc:  # the file changed since it was checked
            raise ConfigError(str(self.path), [f"routing.examples_file: {exc}"]) from None
        return parts.classifier

    def _aliases(self, old: LiveConfig, loaded: LoadedConfig) -> dict[str, AliasUpstreams]:
        aliases: dict[str, AliasUpstreams] = {}
        kept: set[int] = set()
        for alias, pair in loaded.settings.models.items():
            made = {}
            for role in ("student", "teacher"):
                settings = getattr(pair, role)
                key = loaded.api_keys[(alias, role)]
                current = old.aliases.get(alias)
                upstream = getattr(current, role) if current else None
                if (
                    upstream is not None
                    and upstream.settings == settings
                    and upstream.api_key == key
                ):
                    made[role] = upstream
                    kept.add(id(upstream))
                else:
                    made[role] = Upstream(settings, key, self.transport)
            aliases[alias] = AliasUpstreams(made["student"], made["teacher"])
        after_s = loaded.settings.reload.retire_after_s
        for old_pair in old.aliases.values():
            for upstream in (old_pair.student, old_pair.teacher):
                if id(upstream) not in kept:
                    self._retire(upstream, after_s)
        return aliases

    def _guard(self, old: LiveConfig, loaded: LoadedConfig) -> GuardClient | None:
        """The guard client: kept when its settings and key did not change."""
        settings, key = loaded.settings.routing.guard, loaded.api_keys.get(GUARD_KEY)
        kept = old.guard
        if kept is not None and kept.settings == settings and kept.api_key == key:
            return kept
        if kept is not None:
            self._retire(kept, loaded.settings.reload.retire_after_s)
        return GuardClient(settings, key, self.transport) if settings is not None else None

    def _retire(self, upstream: Closable, after_s: float) -> None:
        """Close a replaced client once requests that still use it have had `after_s`."""
        self._retired.append(upstream)

        async def close_later() -> None:
            await asyncio.sleep(after_s)
            self._retired.remove(upstream)
            await upstream.aclose()

        task = asyncio.create_task(close_later(), name="retire-upstream")
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)


async def _off_loop(source: str, where: str, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a worker thread, bounded by files.READ_TIMEOUT_S; a FileProblem or
    the timeout becomes a ConfigError at `where` (ConfigErrors pass through)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(work, *args), files.READ_TIMEOUT_S)
    except files.FileProblem as exc:
        raise ConfigError(source, [f"{where}: {exc}"]) from None
    except TimeoutError:
        took = f"reading took longer than {files.READ_TIMEOUT_S:g} s"
        raise ConfigError(source, [f"{where}: {took}"]) from None


def _training_inputs(routing: RoutingSettings) -> tuple[Any, ...]:
    return (
        tuple((n, tuple(c.keywords)) for n, c in routing.categories.items()),
        routing.keyword_boost,
        routing.examples_file,
    )


def describe(
    old: LiveConfig,
    new_settings: Settings,
    new_policy: Policy,
    new_classifier: Classifier,
    monitor: GapMonitor,
    recent: RecentRequests,
) -> dict[str, Any]:
    """What changes: per category the old and new settings and where it would be served
    (given the current breakers), and how the recent requests would have been routed."""
    old_cats = old.settings.routing.categories
    new_cats = new_settings.routing.categories
    categories: dict[str, Any] = {}
    switching: list[str] = []
    for alias in new_settings.models:
        breakers = monitor.breaker_states(alias)
        for name in sorted(set(old_cats) | set(new_cats)):
            before = _target(old.policy, name, breakers) if name in old_cats else None
            after = _target(new_policy, name, breakers) if name in new_cats else None
            entry = categories.setdefault(name, {
                "old": old_cats[name].model_dump() if name in old_cats else None,
                "new": new_cats[name].model_dump() if name in new_cats else None,
                "served_by": {},
            })  # fmt: skip
            entry["served_by"][alias] = {"old": before, "new": after}
            if before != after and name not in switching:
                switching.append(name)
    changed = {
        name: entry for name, entry in categories.items() if entry["old"] != entry["new"]
        or name in switching
    }  # fmt: skip
    return {
        "categories": changed,
        "switching": switching,
        "routing": _routing_changes(old.settings, new_settings),
        "restart_needed_for": _restart_only(old.settings, new_settings),
        "recent": _replay(old, new_policy, new_classifier, monitor, recent),
    }


def _target(policy: Policy, category: str, breakers: Mapping[str, BreakerState]) -> str:
    """Where a request that is plainly this category goes: the router's own decision."""
    decision = decide(Classification({category: 1.0}, frozenset()), policy, breakers)
    return decision.target.value


def _routing_changes(old: Settings, new: Settings) -> dict[str, Any]:
    a = old.routing.model_dump(exclude={"categories"})
    b = new.routing.model_dump(exclude={"categories"})
    return {
        k: {"old": a.get(k), "new": b.get(k)}
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    }


def _restart_only(old: Settings, new: Settings) -> list[str]:
    a, b = old.model_dump(), new.model_dump()
    out = []
    for dotted in RESTART_ONLY:
        x: Any = a
        y: Any = b
        for part in dotted.split("."):
            x, y = x.get(part), y.get(part)
        if x != y:
            out.append(dotted)
    return out


def _replay(
    old: LiveConfig,
    new_policy: Policy,
    new_classifier: Classifier,
    monitor: GapMonitor,
    recent: RecentRequests,
) -> dict[str, Any]:
    items = recent.snapshot()
    moved = {"student_to_teacher": 0, "teacher_to_student": 0}
    by_category: dict[str, int] = {}
    for item in items:
        breakers = monitor.breaker_states(item.alias)
        before = decide(item.classification, old.policy, breakers).target
        again = (
            item.classification
            if new_classifier is old.classifier
            else new_classifier.classify(item.text)
        )
        after = decide(again, new_policy, breakers)
        if after.target is not before:
            key = "student_to_teacher" if after.target is Target.TEACHER else "teacher_to_student"
            moved[key] += 1
            by_category[after.category] = by_category.get(after.category, 0) + 1
    return {"requests": len(items), **moved, "changed_by_category": by_category}


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """(mtime_ns, inode, size): a Kubernetes ConfigMap update replaces the file (new inode)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_size)

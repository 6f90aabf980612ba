"""RedisState and the shadow stream against a real redis-server started by the test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.config.load import parse
from monitors.comparison import Comparison
from monitors.gap import GapMonitor, PairSample
from monitors.job_stream import StreamConsumer, StreamProducer, decode, encode
from monitors.metrics import ShadowMetrics, StateMetrics
from monitors.shadow import Shadower, ShadowJob, ShadowSettings
from monitors.state import RedisState, StateUnavailable, client_from
from router.types import Target
from tests.fakes.clock import Clock
from tests.fakes.redis_server import RedisServer
from tests.fakes.shadow import Models, job


class Replica:
    """One process's view: its own GapMonitor mirroring the shared state."""

    def __init__(self, url: str, clock: Clock, prefix: str = "t") -> None:
        self.registry = CollectorRegistry()
        self.metrics = StateMetrics(self.registry)
        self.monitor = GapMonitor(window_s=60, min_samples=3, confidence=0.95,
                                  max_gap={"math": 0.2}, clock=clock)  # fmt: skip
        self.client = client_from(url, pool_size=4, timeout_s=0.5)
        self.state = RedisState(self.client, prefix, self.monitor, window_s=60, max_samples=100,
                                metrics=self.metrics, clock=clock)  # fmt: skip

    def value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def sample(clock: Clock, divergence: float) -> PairSample:
    return PairSample(clock(), divergence, 0.8, divergence > 0.5, divergence > 0.5, True)


class _ConnectionsLoop(asyncio.SelectorEventLoop):
    """Keeps the socket of every connection it opens, to wait until each one is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.sockets: list[Any] = []

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        transport, protocol = await super().create_connection(*args, **kwargs)
        self.sockets.append(transport.get_extra_info("socket"))
        return transport, protocol


async def _all_closed(loop: _ConnectionsLoop) -> None:
    # polled: nothing signals that a socket under a TLS transport was closed
    while any(sock.fileno() != -1 for sock in loop.sockets):  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def run(steps: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """`steps` in a loop that is closed only once every connection it opened is.

    redis-py drops a connection without waiting for it to close on an error reply (a wrong
    password: `disconnect(nowait=True)`). Over TLS the socket closes only after the
    close_notify exchange with the server: a loop closed before that leaves the socket
    transport open, and a ResourceWarning surfaces in whichever later test the garbage
    collector runs.
    """
    with asyncio.Runner(loop_factory=_ConnectionsLoop) as runner:
        runner.run(steps())
        loop = runner.get_loop()
        assert isinstance(loop, _ConnectionsLoop)
        runner.run(asyncio.wait_for(_all_closed(loop), 10))


def test_a_pair_counts_once_per_job_and_every_replica_sees_it(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        a, b = Replica(redis_server.url, clock), Replica(redis_server.url, clock)
        assert await a.state.record_pair("m", "math", "job-1", sample(clock, 0.9))
        assert not await a.state.record_pair("m", "math", "job-1", sample(clock, 0.9))
        assert not await b.state.record_pair("m", "math", "job-1", sample(clock, 0.1))
        await b.state.refresh()
        assert b.monitor.snapshot("m", "math").n == 1
        assert b.monitor.snapshot("m", "math").divergence.value == pytest.approx(0.9)
        await a.client.aclose()
        await b.client.aclose()

    run(steps)


def test_a_breaker_opened_by_one_replica_is_seen_by_the_other(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        a, b = Replica(redis_server.url, clock), Replica(redis_server.url, clock)
        for i in range(4):
            await a.state.record_pair("m", "math", f"j{i}", sample(clock, 0.9))
        await b.state.refresh()  # b moves the breaker from the mirrored windows...
        assert b.monitor.breaker_states("m") == {"math": "open"}
        await a.state.refresh()  # ...and a reads the state b wrote
        assert a.monitor.breaker_states("m") == {"math": "open"}
        fresh = Replica(redis_server.url, clock)  # a restarted replica starts from Redis
        await fresh.state.refresh()
        assert fresh.monitor.breaker_states("m") == {"math": "open"}
        assert fresh.monitor.snapshot("m", "math").n == 4
        for r in (a, b, fresh):
            await r.client.aclose()

    run(steps)


def test_tls_and_a_password_from_the_environment(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, tls=True, password="s3cret")
    server.start()
    clock = Clock(1_000_000.0)
    url_template = server.url.replace("s3cret", "${REDIS_PASSWORD}")
    text = f"""
models:
  m:
    student: {{base_url: "http://s:1/v1", model: s}}
    teacher: {{base_url: "http://t:1/v1", model: t}}
state: {{backend: redis, url: "{url_template}"}}
"""
    settings = parse(text.encode(), {"REDIS_PASSWORD": "s3cret"}, "<t>").settings
    assert settings.state.url.startswith("rediss://:s3cret@")

    async def steps() -> None:
        a = Replica(settings.state.url, clock)
        assert await a.state.record_pair("m", "math", "j1", sample(clock, 0.9))
        await a.state.refresh()
        assert a.state.healthy() and a.monitor.snapshot("m", "math").n == 1
        await a.client.aclose()
        wrong = Replica(server.url.replace("s3cret", "wrong"), clock)
        await wrong.state.refresh()
        assert not wrong.state.healthy()  # said, not raised
        await wrong.client.aclose()

    try:
        run(steps)
    finally:
        server.stop()


def test_after_the_first_pull_only_new_pairs_are_fetched(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        a, b = Replica(redis_server.url, clock), Replica(redis_server.url, clock)
        mirrored: list[tuple[int, bool]] = []
        real = b.monitor.mirror

        def spy(alias: str, category: str, pairs: Any, noise: Any, *, whole: bool) -> None:
            mirrored.append((len(pairs), whole))
            real(alias, category, pairs, noise, whole=whole)

        monkeypatch.setattr(b.monitor, "mirror", spy)
        for i in range(3):
            await a.state.record_pair("m", "math", f"old{i}", sample(clock, 0.9))
        await b.state.refresh()
        clock.now += 30  # past the overlap: the old pairs are not fetched again
        await a.state.record_pair("m", "math", "new", sample(clock, 0.1))
        await b.state.record_pair("m", "math", "own", sample(clock, 0.1))  # b has it already
        await b.state.refresh()
        await b.state.refresh()  # nothing changed: nothing fetched
        assert mirrored == [(3, True), (1, False)]
        assert b.monitor.snapshot("m", "math").n == 5
        await a.client.aclose()
        await b.client.aclose()

    run(steps)


def test_windows_expire_by_time_inside_redis(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        a = Replica(redis_server.url, clock)
        await a.state.record_pair("m", "math", "old", sample(clock, 0.9))
        clock.now += 61  # past the 60 s window
        await a.state.record_pair("m", "math", "new", sample(clock, 0.1))
        key = "t:w:pairs:m\x1fmath"
        assert await a.client.zcard(key) == 1  # the writer trimmed the old member
        assert 0 < await a.client.ttl(key) <= 61  # an idle window disappears by itself
        b = Replica(redis_server.url, clock)
        await b.state.refresh()
        assert b.monitor.snapshot("m", "math").n == 1
        await a.client.aclose()
        await b.client.aclose()

    run(steps)


def test_redis_down_keeps_the_last_state_and_recovers(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        a = Replica(redis_server.url, clock)
        for i in range(3):
            await a.state.record_pair("m", "math", f"j{i}", sample(clock, 0.9))
        await a.state.refresh()
        assert a.monitor.breaker_states("m") == {"math": "open"}
        redis_server.stop()
        await a.state.refresh()
        assert not a.state.healthy() and a.state.describe()["ok"] is False
        assert a.value("distillgate_state_up") == 0
        assert a.value("distillgate_state_errors_total", operation="refresh") == 1
        assert a.monitor.breaker_states("m") == {"math": "open"}  # last known state
        assert a.monitor.snapshot("m", "math").n == 3
        with pytest.raises(StateUnavailable):
            await a.state.record_pair("m", "math", "j9", sample(clock, 0.9))
        redis_server.start()  # empty: no persistence
        await a.state.refresh()
        assert a.state.healthy() and a.value("distillgate_state_up") == 1
        assert await a.state.record_pair("m", "math", "j10", sample(clock, 0.9))
        await a.client.aclose()

    run(steps)


def test_jobs_round_trip_through_the_stream_encoding() -> None:
    original = job(Target.TEACHER, "24 legs.", noise=True, student_answer="18 legs.")
    fields = {k.encode(): v for k, v in encode(original).items()}
    assert decode(fields) == original


def test_a_dead_workers_jobs_are_reclaimed_and_scored_once(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        r = Replica(redis_server.url, clock)
        registry = CollectorRegistry()
        shadow_metrics = ShadowMetrics(registry)
        producer = StreamProducer(r.client, "t:jobs", max_len=1000, buffer_size=10,
                                  metrics=shadow_metrics, state_metrics=r.metrics)  # fmt: skip
        shadower = Shadower(
            Models({Target.TEACHER: "3 spiders have 24 legs.", Target.STUDENT: None}),
            Comparison(r.monitor), shadow_metrics, ShadowSettings(max_teacher_rps=1000), clock,
            state=r.state,
        )  # fmt: skip
        processed: list[str] = []

        async def process(j: ShadowJob) -> None:
            processed.append(j.job_id)
            await shadower.process(j)

        def consumer(name: str, idle_s: float) -> StreamConsumer:
            return StreamConsumer(r.client, "t:jobs", "g", name, process, claim_idle_s=idle_s,
                                  state_metrics=r.metrics, block_ms=50)  # fmt: skip

        dead, alive = consumer("dead", 60), consumer("alive", 0.2)
        await dead.ensure_group()
        producer.start()
        jobs = [job(Target.STUDENT, "3 spiders have 18 legs.") for _ in range(3)]
        for j in jobs:
            assert producer.offer(j)
        await asyncio.wait_for(producer.drain(), 5)
        # the dead worker reads all three and dies before acknowledging
        taken: Any = await r.client.xreadgroup("g", "dead", {"t:jobs": ">"}, count=10)
        assert len(taken[0][1]) == 3
        assert await alive.step() == 0  # nothing new, nothing idle long enough yet
        await asyncio.sleep(0.3)
        assert [await alive.step() for _ in range(4)] == [1, 1, 1, 0]  # reclaimed, one at a time
        assert sorted(processed) == sorted(j.job_id for j in jobs)
        pending = await r.client.xpending("t:jobs", "g")
        assert pending["pending"] == 0
        # the dead worker comes back and scores one of them anyway: counted once
        await shadower.process(jobs[0])
        await r.state.refresh()
        assert r.monitor.snapshot("assistant", "math").n == 3
        await producer.stop()
        await r.client.aclose()

    run(steps)


def test_the_producer_drops_and_counts_when_redis_is_down(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        r = Replica(redis_server.url, clock)
        registry = CollectorRegistry()
        metrics = ShadowMetrics(registry)
        producer = StreamProducer(r.client, "t:jobs", max_len=1000, buffer_size=10,
                                  metrics=metrics, state_metrics=r.metrics)  # fmt: skip
        producer.start()
        redis_server.stop()
        for _ in range(2):
            assert producer.offer(job(Target.STUDENT, "x"))  # returns at once
        await asyncio.wait_for(producer.drain(), 5)
        dropped = registry.get_sample_value(
            "distillgate_shadow_dropped_total",
            {"model": "assistant", "reason": "state_unavailable"},
        )
        assert dropped == 2 and r.value("distillgate_state_up") == 0
        assert r.value("distillgate_state_errors_total", operation="enqueue") >= 1
        await producer.stop()
        await r.client.aclose()

    run(steps)

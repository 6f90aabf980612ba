"""Junk in Redis (a window without the separator, an unknown breaker state, a malformed
sample) is skipped and counted; the refresh keeps working, and a replica still starts."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from monitors.lifecycle import cancel_all
from monitors.metrics import StateMetrics
from monitors.state import SEP, refresh_forever
from router.types import BreakerState
from tests.fakes.clock import Clock
from tests.fakes.redis_server import RedisServer
from tests.monitors.test_state_redis import Replica, run, sample


def test_junk_entries_are_skipped_and_counted(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        writer = Replica(redis_server.url, clock)
        assert await writer.state.record_pair("m", "math", "good-1", sample(clock, 0.9))
        r = writer.client
        window = f"m{SEP}math"
        await r.sadd("t:windows", "no-separator")
        await r.hset("t:versions", "no-separator", 1)
        await r.hset("t:breakers", mapping={window: "sideways", f"m{SEP}code": "open"})
        await r.sadd("t:windows", f"m{SEP}code")
        await r.hset("t:versions", f"m{SEP}code", 1)
        await r.zadd(f"t:w:pairs:{window}", {b"not json": clock(), b'{"id": "x"}': clock()})
        await r.zadd(f"t:w:pairs:m{SEP}code", {b'{"id": "y", "at": "soon", "d": 1}': clock()})
        await r.hincrby("t:versions", window, 1)

        fresh = Replica(redis_server.url, clock)  # a replica starting now
        try:
            await check(writer, fresh)
        finally:
            for replica in (writer, fresh):
                await replica.client.aclose()

    async def check(writer: Replica, fresh: Replica) -> None:
        await asyncio.wait_for(fresh.state.refresh(), 5)
        assert fresh.monitor.snapshot("m", "math").n == 1  # the good pair made it
        # a readable state is taken (then the window's own data moves it: too few pairs)
        assert fresh.monitor.breaker_states("m")["code"] is BreakerState.INSUFFICIENT
        assert fresh.value("distillgate_state_up") == 1 and fresh.state.healthy()
        bad = {
            kind: fresh.value("distillgate_state_bad_entries_total", kind=kind)
            for kind in ("window", "breaker", "sample")
        }
        assert bad == {"window": 1, "breaker": 1, "sample": 3}
        # and it goes on: a new pair from the writer arrives at the next refresh
        assert await writer.state.record_pair("m", "math", "good-2", sample(clock, 0.9))
        await fresh.state.refresh()
        assert fresh.monitor.snapshot("m", "math").n == 2

    run(steps)


def test_the_refresh_loop_outlives_a_failing_refresh() -> None:
    class Flaky:
        calls = 0

        async def refresh(self) -> None:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("a bug in one refresh")

    async def main() -> tuple[int, float]:
        registry = CollectorRegistry()
        metrics, flaky = StateMetrics(registry), Flaky()
        task = asyncio.create_task(refresh_forever(flaky, 0.01, metrics))  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        await cancel_all([task])
        errors = registry.get_sample_value(
            "distillgate_state_errors_total", {"operation": "refresh"}
        )
        return flaky.calls, errors or 0.0

    calls, errors = asyncio.run(main())
    assert calls > 3 and errors == 1

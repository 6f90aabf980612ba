"""What the shadow path may hold: the queue bounded in bytes, text truncated for scoring
(and said so), the other model asked for one choice, and a Redis stream that keeps only
the jobs not yet done."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from monitors.budget import Limits, RedisBudget
from monitors.job_stream import StreamConsumer, StreamProducer
from monitors.metrics import ShadowMetrics
from monitors.pair_records import PairRecorder
from monitors.shadow import ShadowJob, compact
from router.types import Target
from tests.fakes.clock import Clock
from tests.fakes.redis_server import RedisServer
from tests.fakes.shadow import Models, job, make, served_json, value
from tests.monitors.test_state_redis import Replica, run


def padded_job(kilobytes: int) -> ShadowJob:
    pad = "x" * (kilobytes * 1024)
    body = {"model": "assistant", "messages": [{"role": "user", "content": pad}]}
    return job(Target.STUDENT, "an answer", body=body, request_text=pad, size=2 * len(pad))


def test_the_in_process_queue_is_bounded_in_bytes_not_only_in_jobs() -> None:
    shadower, _, registry = make(Models({}), queue_size=1000, max_queue_bytes=1 << 20)
    accepted = [shadower.offer(padded_job(200)) for _ in range(10)]  # 400 kB each
    assert accepted == [True, True] + [False] * 8
    assert value(registry, "distillgate_shadow_dropped_total", model="assistant",
                 reason="queue_bytes") == 8  # fmt: skip
    assert shadower.queued_bytes() <= 1 << 20


def test_scoring_sees_truncated_text_and_the_record_says_so(tmp_path: Path) -> None:
    long_answer = "The answer is 24. " * 5000  # 90 kB
    models = Models({Target.TEACHER: long_answer, Target.STUDENT: None})
    shadower, gap, registry = make(models, max_teacher_rps=100, max_text_chars=2000)
    recorder = PairRecorder(tmp_path / "pairs.jsonl", 1 << 20, 1)
    shadower._recorder = recorder  # the factory makes one without records
    asyncio.run(shadower.process(job(Target.STUDENT, long_answer, body={
        "model": "assistant", "messages": [], "n": 4, "stream": True}))
    )  # fmt: skip
    assert models.calls[0][1]["n"] == 1  # only choice 0 is compared: one is enough
    record = json.loads((tmp_path / "pairs.jsonl").read_text())
    assert record["truncated"] is True
    assert len(record["student_answer"]) <= 2000 and len(record["teacher_answer"]) <= 2000
    assert value(registry, "distillgate_shadow_truncated_total", model="assistant",
                 category="math") == 1  # fmt: skip
    assert gap.snapshot("assistant", "math").n == 1


def test_a_large_json_answer_is_kept_as_truncated_text() -> None:
    big = served_json("word " * 100_000)
    kept = compact(job(Target.STUDENT, "", served=big), max_chars=100)
    assert kept.served == b"" and kept.truncated
    assert kept.served_text is not None and len(kept.served_text) == 100


def test_the_stream_keeps_only_jobs_not_yet_done(redis_server: RedisServer) -> None:
    clock = Clock(1_000_000.0)

    async def steps() -> None:
        r = Replica(redis_server.url, clock)
        metrics = ShadowMetrics(r.registry)
        producer = StreamProducer(r.client, "t:jobs", max_len=100_000, buffer_size=1000,
                                  metrics=metrics, state_metrics=r.metrics)  # fmt: skip
        done: list[str] = []

        async def process(j: ShadowJob) -> None:
            done.append(j.job_id)

        consumer = StreamConsumer(r.client, "t:jobs", "g", "w1", process, claim_idle_s=30,
                                  state_metrics=r.metrics, block_ms=50)  # fmt: skip
        await consumer.ensure_group()
        producer.start()
        for _ in range(10):  # a long run: 10 rounds of 50 jobs of 10 kB
            for _ in range(50):
                assert producer.offer(padded_job(10))
            await asyncio.wait_for(producer.drain(), 10)
            while await consumer.step():
                pass
        assert len(done) == 500
        assert await r.client.xlen("t:jobs") == 0  # acknowledged jobs are deleted
        usage: Any = await r.client.memory_usage("t:jobs")
        assert usage < 64 * 1024, usage  # not 500 jobs of 20 kB
        await producer.stop()
        await r.client.aclose()

    run(steps)


def test_replicas_on_one_redis_share_one_teacher_budget(redis_server: RedisServer) -> None:
    """Two shadow processes at `max_teacher_rps` 0.01 (a burst of one call) make one
    teacher call between them, not one each."""
    clock = Clock(1_000_000.0)

    async def steps() -> int:
        r = Replica(redis_server.url, clock)
        models = Models({Target.TEACHER: "24", Target.STUDENT: None})
        limits = Limits(requests_per_s=0.01, tokens_per_min=200_000)
        try:
            for _ in range(2):  # two replicas, each with its own Shadower
                shadower, _, _ = make(models, max_teacher_rps=0.01)
                shadower._budget = RedisBudget(r.client, "t", limits)  # as services wires it
                for _ in range(2):
                    await shadower.process(job(Target.STUDENT, "18"))
        finally:
            await r.client.aclose()
        return len(models.calls)

    assert asyncio.run(steps()) == 1


def test_a_worker_claims_only_the_job_it_works_on(redis_server: RedisServer) -> None:
    """A worker that read 8 jobs and worked them one by one let the last ones pass
    claim_idle_s, to be reclaimed and sent to the teacher twice."""
    clock = Clock(1_000_000.0)

    async def steps() -> tuple[int, int]:
        r = Replica(redis_server.url, clock)
        metrics = ShadowMetrics(r.registry)
        producer = StreamProducer(r.client, "t:jobs", max_len=1000, buffer_size=100,
                                  metrics=metrics, state_metrics=r.metrics)  # fmt: skip

        async def process(_: ShadowJob) -> None:
            return None

        worker = StreamConsumer(r.client, "t:jobs", "g", "w1", process, claim_idle_s=30,
                                state_metrics=r.metrics, block_ms=50)  # fmt: skip
        try:
            await worker.ensure_group()
            producer.start()
            for _ in range(5):
                producer.offer(job(Target.STUDENT, "x"))
            await asyncio.wait_for(producer.drain(), 5)
            done = await worker.step()
            pending: Any = await r.client.xpending("t:jobs", "g")
            await producer.stop()
        finally:
            await r.client.aclose()
        return done, pending["pending"]

    assert asyncio.run(steps()) == (1, 0)  # one taken and done; four left for any worker

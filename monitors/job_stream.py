"""Shadow jobs through a Redis Stream with a consumer group (state.backend: redis).

Gateways produce: `offer` puts the job in a small local buffer and returns at once; one
task per gateway moves buffered jobs to the stream in pipelined batches (XADD, capped with
MAXLEN ~ so the stream cannot eat Redis' memory). Redis down: the batch is dropped and
counted, the request never waited. Workers consume (XREADGROUP), score, then XACK and
XDEL in one transaction: at-least-once, and a done job leaves the stream at once. A
worker that dies leaves its jobs pending; others reclaim those idle longer than
`claim_idle_s` (XAUTOCLAIM). The windows count a job once (by job id), so a job scored
twice is not counted twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from monitors.lifecycle import cancel_all
from monitors.metrics import ShadowMetrics, StateMetrics
from monitors.shadow import ShadowJob, compact
from router.types import Target

log = logging.getLogger("distillgate.stream")
BATCH = 64


def encode(job: ShadowJob) -> dict[str, bytes]:
    head = {
        "job_id": job.job_id, "request_id": job.request_id, "alias": job.alias,
        "category": job.category, "served_by": job.served_by.value, "endpoint": job.endpoint,
        "body": job.body, "request_text": job.request_text, "served_is_sse": job.served_is_sse,
        "noise": job.noise, "student_answer": job.student_answer, "size": job.size,
        "served_text": job.served_text, "truncated": job.truncated, "reason": job.reason,
        "config_sha256": job.config_sha256, "student_model": job.student_model,
        "teacher_model": job.teacher_model, "probability": job.probability,
    }  # fmt: skip
    return {"job": orjson.dumps(head), "served": job.served}


def decode(fields: Mapping[bytes, bytes]) -> ShadowJob:
    head = orjson.loads(fields[b"job"])
    return ShadowJob(
        request_id=head["request_id"], alias=head["alias"], category=head["category"],
        served_by=Target(head["served_by"]), endpoint=head["endpoint"], body=head["body"],
        request_text=head["request_text"], served=fields[b"served"],
        served_is_sse=head["served_is_sse"], noise=head["noise"],
        student_answer=head["student_answer"], job_id=head["job_id"],
        size=head.get("size", 0), served_text=head.get("served_text"),
        truncated=head.get("truncated", False), reason=head.get("reason"),
        config_sha256=head.get("config_sha256"), student_model=head.get("student_model"),
        teacher_model=head.get("teacher_model"), probability=head.get("probability", 1.0),
    )  # fmt: skip


class StreamProducer:
    """The gateway side: implements monitors.shadow.ShadowQueue."""

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        *,
        max_len: int,
        buffer_size: int,
        metrics: ShadowMetrics,
        state_metrics: StateMetrics,
        max_bytes: int = 64 << 20,
        max_text_chars: int = 32_000,
    ) -> None:
        self._r = client
        self._stream = stream
        self._max_len = max_len
        self._buffer: asyncio.Queue[ShadowJob] = asyncio.Queue(buffer_size)
        self._max_bytes, self._max_chars, self._bytes = max_bytes, max_text_chars, 0
        self._metrics = metrics
        self._state_metrics = state_metrics
        self._task: asyncio.Task[None] | None = None

    def offer(self, job: ShadowJob) -> bool:
        self._metrics.offer(job.alias, job.category)
        job = compact(job, self._max_chars)
        if self._bytes + job.held_bytes() > self._max_bytes:
            self._metrics.drop(job.alias, job.category, "queue_bytes")
            return False
        try:
            self._buffer.put_nowait(job)
        except asyncio.QueueFull:
            self._metrics.drop(job.alias, job.category, "queue_full")
            return False
        self._bytes += job.held_bytes()
        return True

    def depth(self) -> int:
        return self._buffer.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._forward(), name="shadow-stream-producer")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_all([self._task])
            self._task = None

    async def drain(self) -> None:
        await self._buffer.join()

    async def _forward(self) -> None:
        while True:
            batch = [await self._buffer.get()]
            while len(batch) < BATCH and not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
            try:
                async with self._r.pipeline(transaction=False) as pipe:
                    for job in batch:
                        pipe.xadd(self._stream, encode(job), maxlen=self._max_len, approximate=True)  # type: ignore[arg-type]
                    await pipe.execute()
                self._state_metrics.up.set(1)
            except (RedisError, OSError) as exc:
                self._state_metrics.errors.labels("enqueue").inc()
                self._state_metrics.up.set(0)
                log.warning("shadow stream unavailable, %d jobs dropped: %s", len(batch), exc)
                for job in batch:
                    self._metrics.drop(job.alias, job.category, "state_unavailable")
            finally:
                for job in batch:
                    self._bytes -= job.held_bytes()
                    self._buffer.task_done()


class StreamConsumer:
    """One worker: reclaims stuck jobs, reads new ones, processes, acknowledges."""

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        group: str,
        consumer: str,
        process: Callable[[ShadowJob], Awaitable[None]],
        *,
        claim_idle_s: float,
        state_metrics: StateMetrics,
        block_ms: int = 1000,
        count: int = 1,  # claim only what this worker works on now: the rest stays for others
    ) -> None:
        self._r = client
        self._stream, self._group, self._consumer = stream, group, consumer
        self._process = process
        self._claim_idle_ms = int(claim_idle_s * 1000)
        self._state_metrics = state_metrics
        self._block_ms, self._count = block_ms, count

    async def ensure_group(self) -> None:
        try:
            await self._r.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self.ensure_group()
                while True:
                    await self.step()
                    backoff = 0.1
            except (RedisError, OSError) as exc:
                self._state_metrics.errors.labels("consume").inc()
                log.warning("shadow stream: %s; retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(2.0, backoff * 2)

    async def step(self) -> int:
        """Reclaim idle jobs, then read new ones (blocking up to block_ms); process each."""
        reclaimed = await self._r.xautoclaim(
            self._stream, self._group, self._consumer, self._claim_idle_ms, "0-0", count=self._count
        )
        entries: list[tuple[bytes, dict[bytes, bytes]]] = list(reclaimed[1])
        if not entries:
            read: Any = await self._r.xreadgroup(
                self._group, self._consumer, {self._stream: ">"}, count=self._count,
                block=self._block_ms,
            )  # fmt: skip
            entries = [e for _, stream_entries in read or [] for e in stream_entries]
        for entry_id, fields in entries:
            if fields:  # a reclaimed entry trimmed away by MAXLEN has no fields
                await self._handle(fields)
            # Acknowledged is done: delete it too, or the stream keeps every job (XACK
            # alone leaves entries in place until MAXLEN trims them).
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.xack(self._stream, self._group, entry_id)
                pipe.xdel(self._stream, entry_id)
                await pipe.execute()
        return len(entries)

    async def _handle(self, fields: Mapping[bytes, bytes]) -> None:
        try:
            job = decode(fields)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("shadow stream: an entry that is not a job, skipped: %s", exc)
            return
        try:
            await self._process(job)
        except (RedisError, OSError):
            raise  # not acknowledged: reclaimed later
        except Exception:
            log.exception("shadow job %s for %s/%s failed", job.job_id, job.alias, job.category)

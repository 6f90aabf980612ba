"""Shadow jobs: ask the model that did not serve, score the pair, feed the gap windows.

The live request only offers a job to a bounded queue (never waits); a full queue
drops the job and counts it. Workers are started and stopped by the app's lifespan.
Teacher calls are capped by a requests/s and a tokens/min budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson
from redis.exceptions import RedisError

from monitors import judge
from monitors.answers import text_of_json, text_of_sse
from monitors.budget import Budget, Limits, LocalBudget
from monitors.comparison import Compared, Comparison
from monitors.lifecycle import cancel_all
from monitors.metrics import ShadowMetrics
from monitors.pair_records import PairRecorder
from monitors.scorers import PairScores
from monitors.state import MemoryState, StateStore, StateUnavailable
from router.sampling import sampled
from router.types import Target

log = logging.getLogger("distillgate.shadow")


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int


class OtherModel(Protocol):
    """Calls an alias's student or teacher with a non-streaming request body."""

    async def complete(
        self,
        alias: str,
        target: Target,
        endpoint: str,
        body: Mapping[str, Any],
        request_id: str,
    ) -> Completion | None: ...


@dataclass(frozen=True)
class ShadowJob:
    request_id: str
    alias: str
    category: str
    served_by: Target
    endpoint: str  # "chat/completions" | "completions"
    body: Mapping[str, Any]  # the client's request, as sent
    request_text: str
    served: bytes  # what the client received
    served_is_sse: bool
    noise: bool = False  # also ask the teacher a second time
    student_answer: str | None = None  # an escalated request's discarded student answer
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # scored at most once
    size: int = 0  # bytes of the client's request, as received (the queue's byte budget)
    served_text: str | None = None  # set instead of `served` when that was too large to keep
    truncated: bool = False  # some text was cut before scoring
    # provenance, for pair records and exports
    reason: str | None = None  # why the served model served (router.types.Reason)
    config_sha256: str | None = None  # the gateway's config when it served
    student_model: str | None = None  # the upstreams' own model names
    teacher_model: str | None = None
    probability: float = 1.0  # the chance this request was sampled (its category's rate)

    def held_bytes(self) -> int:
        """What the job holds, about: the request, the answer(s) kept for scoring."""
        extra = len(self.served_text or "") + len(self.student_answer or "")
        return self.size + len(self.served) + extra


def compact(job: ShadowJob, max_chars: int) -> ShadowJob:
    """The job as a queue keeps it: a whole JSON answer larger than needed for scoring
    becomes its text, cut to `max_chars` (a stream is already capped by the relay)."""
    if job.served_is_sse or len(job.served) <= 4 * max_chars:
        return job
    text = text_of_json(job.served, job.endpoint == "chat/completions") or ""
    return replace(job, served=b"", served_text=text[:max_chars], truncated=True)


class ShadowQueue(Protocol):
    """Where served requests' shadow jobs go: the in-process queue (Shadower) or a Redis
    Stream (monitors.job_stream.StreamProducer)."""

    def offer(self, job: ShadowJob) -> bool: ...

    def depth(self) -> int: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class ShadowSettings:
    queue_size: int = 1000
    workers: int = 2
    max_teacher_rps: float = 5.0
    max_teacher_tokens_per_min: float = 200_000.0
    judge_rate: float = 0.0  # share of pairs the teacher also judges (sampled by request text)
    judge_max_tokens: int = 16
    judge_json_mode: bool = True  # ask for response_format json_object (off for upstreams
    # that reject it; the reply must be the JSON verdict either way)
    default_answer_tokens: int = 1024  # reserved for an answer whose request sets no max_tokens
    max_queue_bytes: int = 64 << 20  # jobs waiting hold at most this much, about
    max_text_chars: int = 32_000  # of each answer and the request, for scoring and records
    sampling_secret: bytes = b""  # keys the draw of which pairs the teacher also judges


class Shadower:
    def __init__(
        self,
        models: OtherModel,
        comparison: Comparison,
        metrics: ShadowMetrics,
        settings: ShadowSettings,
        clock: Callable[[], float],
        recorder: PairRecorder | None = None,
        state: StateStore | None = None,
        budget: Budget | None = None,
    ) -> None:
        self._recorder = recorder
        self._comparison = comparison
        self._state = state or MemoryState(comparison.monitor)
        self._models = models
        self._metrics = metrics
        self._settings = settings
        self._queue: asyncio.Queue[ShadowJob] = asyncio.Queue(settings.queue_size)
        self._bytes = 0  # held by the jobs in the queue
        self._tasks: list[asyncio.Task[None]] = []
        self._budget = budget or LocalBudget(
            Limits(settings.max_teacher_rps, settings.max_teacher_tokens_per_min), clock
        )

    def depth(self) -> int:
        return self._queue.qsize()

    def queued_bytes(self) -> int:
        return self._bytes

    def offer(self, job: ShadowJob) -> bool:
        self._metrics.offer(job.alias, job.category)
        job = compact(job, self._settings.max_text_chars)
        if self._bytes + job.held_bytes() > self._settings.max_queue_bytes:
            self._metrics.drop(job.alias, job.category, "queue_bytes")
            return False
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self._metrics.drop(job.alias, job.category, "queue_full")
            return False
        self._bytes += job.held_bytes()
        return True

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"shadow-worker-{i}")
            for i in range(self._settings.workers)
        ]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks = []

    async def drain(self) -> None:
        """Wait until every offered job is processed (tests, the demo, graceful stops)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                await self.process(job)
            except Exception:
                log.exception("shadow job for %s/%s failed", job.alias, job.category)
                self._metrics.drop(job.alias, job.category, "error")
            finally:
                self._bytes -= job.held_bytes()
                self._queue.task_done()

    async def process(self, job: ShadowJob) -> None:
        answers = await self._pair(job)
        if answers is None:
            return
        student, teacher = answers
        cut = self._settings.max_text_chars
        truncated = job.truncated or any(len(t) > cut for t in (student, teacher))
        student, teacher, request = student[:cut], teacher[:cut], job.request_text[:cut]
        if truncated:
            self._metrics.truncated.labels(job.alias, job.category).inc()
        given = {}
        if sampled(request.encode(), self._settings.judge_rate, 2, self._settings.sampling_secret):
            agreement = await self._judge(job, student, teacher)
            if agreement is not None:
                given["llm_judge"] = agreement
        scores = await self._score(student, teacher, request, given)
        weight = 1.0 / job.probability if job.probability > 0 else 1.0
        pair = self._comparison.sample(job.alias, student, teacher, scores, weight)
        try:
            fresh = await self._state.record_pair(job.alias, job.category, job.job_id, pair.sample)
        except StateUnavailable:  # the store logged and counted it; this pair is lost
            self._metrics.drop(job.alias, job.category, "state_unavailable")
            return
        if not fresh:
            return  # scored before (a reclaimed job): it counts once
        self._observe(
            job, scores.divergence, scores.scores, pair.illusion, scores.judgment_disagrees()
        )
        if self._recorder is not None:  # redaction is CPU work: off the serving loop
            record = _record(job, student, teacher, pair) | {"truncated": truncated}
            await asyncio.to_thread(self._recorder.write, record)
        if job.noise and (again := await self._ask(job, Target.TEACHER)) is not None:
            noise = await self._score(teacher, again[:cut], request, {})
            with contextlib.suppress(StateUnavailable):
                await self._state.record_noise(
                    job.alias, job.category, job.job_id, noise.divergence
                )
        self._metrics.complete(job.alias, job.category)

    async def _pair(self, job: ShadowJob) -> tuple[str, str] | None:
        """(student answer, teacher answer): the served one and the other model's."""
        chat = job.endpoint == "chat/completions"
        served = job.served_text
        if served is None:
            served = (text_of_sse if job.served_is_sse else text_of_json)(job.served, chat)
        if served is None:
            self._metrics.drop(job.alias, job.category, "unscorable")
            return None
        if job.served_by is Target.STUDENT:
            teacher = await self._ask(job, Target.TEACHER)
            return None if teacher is None else (served, teacher)
        student = job.student_answer or await self._ask(job, Target.STUDENT)
        return None if student is None else (student, served)

    def _observe(
        self,
        job: ShadowJob,
        divergence: float,
        scores: Mapping[str, float],
        illusion: bool,
        flip: bool,
    ) -> None:
        m = self._metrics
        m.divergence.labels(job.alias, job.category, "combined").observe(divergence)
        for name, agreement in scores.items():
            m.divergence.labels(job.alias, job.category, name).observe(1.0 - agreement)
        if illusion:
            m.illusions.labels(job.alias, job.category).inc()
        if flip:
            m.judgment_flips.labels(job.alias, job.category).inc()

    async def _score(self, a: str, b: str, request: str, given: Mapping[str, float]) -> PairScores:
        if self._comparison.heavy:  # the semantic model: tens of ms of CPU, off the event loop
            return await asyncio.to_thread(self._comparison.score, a, b, request, given)
        return self._comparison.score(a, b, request, given)

    async def _judge(self, job: ShadowJob, student: str, teacher: str) -> float | None:
        """The teacher's verdict in both orders; the agreement only when both orders agree."""
        replies = await asyncio.gather(
            *(
                self._ask(job, Target.TEACHER, self._judge_body(job, first, second), f"judge{i}")
                for i, (first, second) in enumerate(((student, teacher), (teacher, student)))
            )
        )
        outcome = judge.combine(*replies)
        self._metrics.judged.labels(job.alias, outcome.value).inc()
        return judge.agreement(outcome)

    def _judge_body(self, job: ShadowJob, first: str, second: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": judge.messages(job.request_text, first, second),
            "temperature": 0,
            "max_tokens": self._settings.judge_max_tokens,
        }
        if self._settings.judge_json_mode:
            body["response_format"] = judge.RESPONSE_FORMAT
        return body

    async def _ask(
        self,
        job: ShadowJob,
        target: Target,
        body: Mapping[str, Any] | None = None,
        purpose: str = "shadow",
    ) -> str | None:
        """Ask `target` the job's request (or `body`, on chat/completions); None if not answered.

        The teacher's share is reserved first (its worst case: the prompt and `max_tokens`
        of answer) and settled after, so the budget holds even for one huge request."""
        if body is None:
            endpoint = job.endpoint
            body = {k: v for k, v in job.body.items() if k not in ("stream", "stream_options")}
            if "n" in body:
                body["n"] = 1  # only choice 0 is compared
        else:
            endpoint = "chat/completions"
        reserved = 0.0
        if target is Target.TEACHER:
            reserved = reservation(body, self._settings.default_answer_tokens)
            if not await self._reserve(job, reserved):
                return None
        request_id = f"{job.request_id}-{purpose}-{target.value}"
        done = await self._models.complete(job.alias, target, endpoint, body, request_id)
        if target is Target.TEACHER:
            used = done.tokens if done is not None else 0
            with contextlib.suppress(RedisError, OSError):  # the reservation stays spent
                await self._budget.settle(reserved, used)
            self._metrics.teacher_spent.labels("tokens").inc(used)
        if done is None:
            self._metrics.drop(job.alias, job.category, "upstream_error")
            return None
        return done.text

    async def _reserve(self, job: ShadowJob, tokens: float) -> bool:
        try:
            granted = await self._budget.reserve(tokens)
        except (RedisError, OSError):
            self._metrics.drop(job.alias, job.category, "state_unavailable")
            return False
        if not granted:
            self._metrics.drop(job.alias, job.category, "budget")
            return False
        self._metrics.teacher_spent.labels("requests").inc()
        return True


def reservation(body: Mapping[str, Any], default_answer_tokens: int) -> float:
    """A call's worst case in tokens: the prompt (about 4 bytes a token) and the answer's
    `max_tokens` (or `max_completion_tokens`, else the default) times `n`."""
    prompt = body.get("messages", body.get("prompt", ""))
    answer = body.get("max_completion_tokens") or body.get("max_tokens")
    answer = answer if isinstance(answer, int) and answer > 0 else default_answer_tokens
    n = body.get("n")
    return len(orjson.dumps(prompt)) / 4 + answer * (n if isinstance(n, int) and n > 0 else 1)


def _record(job: ShadowJob, student: str, teacher: str, pair: Compared) -> dict[str, Any]:
    scores = pair.scores
    request = {k: job.body[k] for k in ("messages", "prompt") if k in job.body}
    return {
        "time": time.time(),
        "request_id": job.request_id,
        "job_id": job.job_id,
        "model": job.alias,
        "category": job.category,
        "served_by": job.served_by.value,
        "reason": job.reason,
        "escalated": job.student_answer is not None,
        "config_sha256": job.config_sha256,
        "student_model": job.student_model,
        "teacher_model": job.teacher_model,
        "sampling_probability": job.probability,
        "endpoint": job.endpoint,
        "request": request,
        "student_answer": student,
        "teacher_answer": teacher,
        "scores": dict(scores.scores),
        "divergence": scores.divergence,
        "surface": scores.surface,
        "judgment": scores.judgment,
        "judgment_flip": scores.judgment_disagrees(),
        "illusion": pair.illusion,
        "discriminator_correct": pair.told_apart,
    }

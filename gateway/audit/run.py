"""`distillgate audit`: collect student and teacher answers to a prompt file (or read
recorded ones), score them with the live scoring path, and write the reports.

Calling models: every conversation goes to the alias's student and teacher (each with its
own history on multi-turn prompts, as MT-Bench does), at most `concurrency` at a time;
429, 5xx, timeouts and connection errors are retried with backoff, other 4xx are not.
Every answer is appended to `OUT/answers/<model>.jsonl` as it arrives, so an interrupted
audit resumes where it stopped when run again with the same --out.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from gateway.audit import report
from gateway.audit.cache import AnswerCache, AuditError, read_answers
from gateway.audit.progress import Progress
from gateway.audit.prompt_files import Conversation, PromptFileError, read_conversations
from gateway.config import router_build
from gateway.config.load import LoadedConfig, load
from gateway.config.settings import RoutingSettings, Settings
from gateway.upstream.aliases import upstreams_of
from gateway.upstream.client import Upstream, UpstreamFailure
from monitors import semantic
from monitors.answers import text_of_json
from monitors.audit import AuditResult, AuditSettings, Pair, audit
from router.policy import decide
from router.sampling import sampled

log = logging.getLogger("distillgate.audit")
TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class AuditOptions:
    config_path: str
    prompts: Path
    out: Path
    model: str | None = None
    answers: tuple[Path, Path] | None = None  # recorded student and teacher answers
    noise_answers: Path | None = None  # recorded second teacher answers (noise floor)
    concurrency: int = 8
    retries: int = 3
    noise_rate: float = 0.0
    min_samples: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None


def run(options: AuditOptions, environ: Mapping[str, str], err: TextIO = sys.stderr) -> AuditResult:
    loaded = load(options.config_path, environ)
    settings = loaded.settings
    alias = options.model or next(iter(settings.models))
    if alias not in settings.models:
        raise AuditError(
            f"--model {alias}: not in the config (known: {', '.join(settings.models)})"
        )
    try:
        conversations = read_conversations(options.prompts)
    except PromptFileError as exc:
        raise AuditError(str(exc)) from exc
    categories = _categories(conversations, settings.routing, loaded.base_dir)
    if options.answers is not None:
        student, teacher = (read_answers(p) for p in options.answers)
        again = read_answers(options.noise_answers) if options.noise_answers else {}
    else:
        student, teacher, again = asyncio.run(_collect(options, loaded, alias, conversations, err))
    pairs = _pairs(conversations, categories, student, teacher, again, err)
    if not pairs:
        raise AuditError("no prompt has both a student and a teacher answer")
    result = audit(
        pairs, _audit_settings(settings, options), semantic.scorers(settings.monitor.semantic)
    )
    meta = {
        "config": options.config_path,
        "prompts": str(options.prompts),
        "model": alias,
        "answers": "recorded: " + ", ".join(map(str, options.answers))
        if options.answers
        else f"asked: student {settings.models[alias].student.model}, "
        f"teacher {settings.models[alias].teacher.model}",
        "categories": "from the prompt file"
        if all(c.category for c in conversations)
        else "from the router's classifier where the prompt file has none",
    }
    report.write(options.out, result, list(settings.routing.categories), meta)
    return result


def _audit_settings(settings: Settings, options: AuditOptions) -> AuditSettings:
    cats = settings.routing.categories
    default = cats.get(settings.routing.default_category)
    return AuditSettings(
        min_samples=options.min_samples or settings.monitor.min_samples,
        confidence=settings.monitor.confidence,
        illusion_surface=settings.monitor.illusion_surface,
        max_gap={name: c.max_gap for name, c in cats.items()},
        default_max_gap=default.max_gap if default else 0.2,
        risk={name: c.risk.value for name, c in cats.items()},
        weights=settings.monitor.weights,
    )


def _categories(
    conversations: Sequence[Conversation], routing: RoutingSettings, base_dir: Path
) -> dict[str, str]:
    """The prompt file's own category, else where the router would put the first turn."""
    out = {c.id: c.category for c in conversations if c.category}
    missing = [c for c in conversations if not c.category]
    if missing:
        parts = router_build.build(routing, base_dir)
        for c in missing:
            out[c.id] = decide(parts.classifier.classify(c.turns[0]), parts.policy, {}).category
    return out


def _pairs(
    conversations: Sequence[Conversation],
    categories: Mapping[str, str],
    student: Mapping[str, list[str]],
    teacher: Mapping[str, list[str]],
    again: Mapping[str, list[str]],
    err: TextIO,
) -> list[Pair]:
    pairs, skipped = [], 0
    for c in conversations:
        s, t, a = student.get(c.id, []), teacher.get(c.id, []), again.get(c.id, [])
        for turn, request in enumerate(c.turns):
            if turn >= len(s) or turn >= len(t):
                skipped += 1
                continue
            noise = a[turn] if turn < len(a) else None
            pairs.append(Pair(c.id, turn, categories[c.id], request, s[turn], t[turn], noise))
    if skipped:
        print(f"audit: {skipped} turns without both answers were left out", file=err)
    return pairs


Answers = dict[str, list[str]]


async def _collect(
    options: AuditOptions,
    loaded: LoadedConfig,
    alias: str,
    conversations: Sequence[Conversation],
    err: TextIO,
) -> tuple[Answers, Answers, Answers]:
    clients = upstreams_of(loaded)  # no connection is made before the first request
    pair = clients[alias]
    answers = options.out / "answers"
    caches = {
        name: AnswerCache(answers / f"{name}.jsonl")
        for name in ("student", "teacher", "teacher-again")
    }
    noisy = {c.id for c in conversations if sampled(c.id.encode(), options.noise_rate, salt=1)}
    total = sum(len(c.turns) * (3 if c.id in noisy else 2) for c in conversations)
    done = sum(
        (caches["student"].get(c.id, t) is not None)
        + (caches["teacher"].get(c.id, t) is not None)
        + (c.id in noisy and caches["teacher-again"].get(c.id, t) is not None)
        for c in conversations
        for t in range(len(c.turns))
    )
    progress = Progress(total, done, err)
    gate = asyncio.Semaphore(options.concurrency)
    asker = _Asker(options, progress, gate)
    try:
        await asyncio.gather(
            *(asker.conversation(c, pair.student, caches["student"], None) for c in conversations),
            *(
                asker.conversation(
                    c,
                    pair.teacher,
                    caches["teacher"],
                    caches["teacher-again"] if c.id in noisy else None,
                )
                for c in conversations
            ),
        )
    finally:
        progress.draw(final=True)
        for upstreams in clients.values():
            await upstreams.aclose()
    if asker.failed:
        print(
            f"audit: {asker.failed} conversations could not be completed (see the log); "
            "run the same command again to retry them",
            file=err,
        )
    return caches["student"].turns(), caches["teacher"].turns(), caches["teacher-again"].turns()


class _Asker:
    def __init__(self, options: AuditOptions, progress: Progress, gate: asyncio.Semaphore) -> None:
        self._options, self._progress, self._gate = options, progress, gate
        self.failed = 0

    async def conversation(
        self, c: Conversation, upstream: Upstream, cache: AnswerCache, again: AnswerCache | None
    ) -> None:
        """Each turn after the model's own earlier answers; stops at a turn that fails."""
        messages: list[dict[str, Any]] = []
        for turn, text in enumerate(c.turns):
            messages.append({"role": "user", "content": text})
            answer = await self._turn(c.id, turn, messages, upstream, cache)
            if answer is None:
                self.failed += 1
                return
            if (
                again is not None
                and again.get(c.id, turn) is None
                and await self._turn(c.id, turn, messages, upstream, again) is None
            ):
                self.failed += 1
                return
            messages.append({"role": "assistant", "content": answer})

    async def _turn(
        self,
        ident: str,
        turn: int,
        messages: list[dict[str, Any]],
        upstream: Upstream,
        cache: AnswerCache,
    ) -> str | None:
        cached = cache.get(ident, turn)
        if cached is not None:
            return cached
        body: dict[str, Any] = {"model": upstream.model, "messages": messages}
        if self._options.temperature is not None:
            body["temperature"] = self._options.temperature
        if self._options.max_tokens is not None:
            body["max_tokens"] = self._options.max_tokens
        async with self._gate:
            text = await self._ask(orjson.dumps(body), f"audit-{ident}-{turn}", upstream)
        if text is not None:
            cache.put(ident, turn, text)
            self._progress.advance()
        return text

    async def _ask(self, payload: bytes, request_id: str, upstream: Upstream) -> str | None:
        for attempt in range(self._options.retries + 1):
            wait = 0.5 * 2**attempt
            try:
                reply = await upstream.post("/chat/completions", payload, request_id)
            except UpstreamFailure as exc:
                problem = f"{exc.error_type.value}: {exc.detail}"
            else:
                if reply.status == 200:
                    text = text_of_json(reply.content, True)
                    if text is not None:
                        return text
                    problem = "a 200 without an answer"
                elif reply.status in TRANSIENT:
                    problem = f"HTTP {reply.status}"
                    wait = max(wait, _retry_after(reply.headers))
                else:
                    log.warning("%s: %s gave HTTP %s, not retried: %s", request_id, upstream.model,
                                reply.status, reply.content[:300])  # fmt: skip
                    return None
            if attempt < self._options.retries:
                log.info("%s: %s (%s), retry in %.1f s", request_id, upstream.model, problem, wait)
                await asyncio.sleep(min(wait, 30.0))
        log.warning("%s: %s failed after %d tries: %s", request_id, upstream.model,
                    self._options.retries + 1, problem)  # fmt: skip
        return None


def _retry_after(headers: Mapping[str, str]) -> float:
    try:
        return float(headers.get("retry-after", "0"))
    except ValueError:
        return 0.0

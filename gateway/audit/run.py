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
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from gateway.audit import report
from gateway.commands.prompt_files import Conversation, PromptFileError, read_conversations
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


class AuditError(Exception):
    """A problem with the audit's inputs: said in one line, exit status 1."""


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


def read_answers(path: Path) -> dict[str, list[str]]:
    """JSONL answers by id: MT-Bench's model_answer rows (question_id, choices[0].turns), or
    {"id": ..., "turns": [...]} / {"id": ..., "answer": "..."}."""
    out: dict[str, list[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"{path}: cannot read: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ident = row.get("question_id", row.get("id"))
            if "choices" in row:
                turns = row["choices"][0]["turns"]
            elif "turns" in row:
                turns = row["turns"]
            else:
                turns = [row.get("answer", row.get("text"))]
        except (ValueError, AttributeError, KeyError, IndexError, TypeError) as exc:
            raise AuditError(f"{path}:{n}: not an answer row: {exc}") from exc
        if ident is None or not all(isinstance(t, str) for t in turns):
            raise AuditError(f"{path}:{n}: needs question_id or id, and text answers")
        out[str(ident)] = list(turns)
    return out


class AnswerCache:
    """Answers already collected, one JSONL file per model; appended as they arrive."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._answers: dict[tuple[str, int], str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._answers[(str(row["id"]), int(row["turn"]))] = str(row["text"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interruption
        path.parent.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, ident: str, turn: int) -> str | None:
        return self._answers.get((ident, turn))

    def put(self, ident: str, turn: int, text: str) -> None:
        self._answers[(ident, turn)] = text
        with self._path.open("a", encoding="utf-8") as f:
            f.write(
                json.dumps({"id": ident, "turn": turn, "text": text}, ensure_ascii=False) + "\n"
            )

    def turns(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for (ident, turn), text in sorted(
            self._answers.items(), key=lambda kv: (kv[0][0], kv[0][1])
        ):
            if turn == len(out.setdefault(ident, [])):
                out[ident].append(text)
        return out


class Progress:
    """`done/total answers, rate, ETA` on stderr: redrawn in place on a terminal, a line
    per 10% otherwise."""

    def __init__(self, total: int, done: int, out: TextIO) -> None:
        self._total, self._done, self._out = total, done, out
        self._start, self._resumed = time.monotonic(), done
        self._last_draw, self._last_decile = 0.0, -1
        self._tty = out.isatty()

    def advance(self) -> None:
        self._done += 1
        self.draw()

    def draw(self, final: bool = False) -> None:
        now = time.monotonic()
        decile = self._done * 10 // max(1, self._total)
        if self._tty and not final and now - self._last_draw < 0.2:
            return
        if not self._tty and not final and decile == self._last_decile:
            return
        self._last_draw, self._last_decile = now, decile
        new = self._done - self._resumed
        rate = new / max(1e-9, now - self._start)
        left = (self._total - self._done) / rate if rate > 0 else float("inf")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left != float("inf") else "?"
        share = 100 * self._done // max(1, self._total)
        line = f"audit: {self._done}/{self._total} answers ({share}%), {rate:.1f}/s, ETA {eta}" + (
            f", {self._resumed} from the cache" if self._resumed else ""
        )
        self._out.write(("\r" + line + ("\n" if final else "")) if self._tty else line + "\n")
        self._out.flush()


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

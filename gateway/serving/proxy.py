"""Serves one completion request: parse, route, call upstreams (fallback, escalation), respond.

Each upstream call returns an `Attempt` value; "the teacher instead" (fallback after a
student failure, a commit window that broke off, an escalated answer) is one helper; the
attempt that answered is recorded once, when the response ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from gateway.config.live import LiveConfig, LiveConfigHolder
from gateway.config.recent import RecentRequests
from gateway.serving import request_body
from gateway.serving.accounting import Accounting, Call, OnServed
from gateway.serving.answer_checks import Check
from gateway.serving.attempts import Attempt, Served, attempt
from gateway.serving.errors import ClientError, ClientErrorType, GatewayError
from gateway.serving.relay import StreamRelay
from gateway.serving.request_body import Endpoint, ParsedRequest
from gateway.upstream.aliases import AliasUpstreams
from gateway.upstream.client import OpenStream, UpstreamErrorType, UpstreamFailure, UpstreamReply
from gateway.upstream.guard_client import GuardClient
from monitors.answers import text_of_json
from monitors.shadow import ShadowJob, ShadowQueue
from router import guard as router_guard
from router.classifier import Classification
from router.policy import decide
from router.sampling import fraction, sampled
from router.types import BreakerState, Decision, Reason, Target

log = logging.getLogger("distillgate.proxy")
FORCE_HEADER = "x-distillgate-force-route"
UNCLASSIFIED = Classification({}, frozenset())


class Proxy:
    def __init__(
        self,
        live: LiveConfigHolder,
        accounting: Accounting,
        check_client: Callable[[str | None], None],
        breaker_states: Callable[[str], Mapping[str, BreakerState]],
        clock: Callable[[], float],
        shadow: ShadowQueue | None = None,
        recent: RecentRequests | None = None,
    ) -> None:
        self._live = live
        self._acct = accounting
        self._check_client = check_client  # raises ClientError for a missing or bad key
        self._breakers = breaker_states
        self._clock = clock
        self._shadow = shadow
        self._recent = recent

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = self._clock()
        live = self._live.current  # this request keeps this config to its end
        try:
            self._check_client(request.headers.get("authorization"))
            raw = await request_body.read_limited(
                request.stream(), request.headers.get("content-length"), live.limits.max_body_bytes
            )
            parsed = request_body.parse(raw, endpoint)
            pair = live.aliases.get(parsed.alias)
            if pair is None:
                raise _unknown_model(parsed.alias)
            forced = _forced(request.headers.get(FORCE_HEADER))
        except ClientError as exc:
            self._acct.metrics.client_errors.labels(exc.kind.value).inc()
            log.info("request_id=%s refused status=%d: %s", request_id, exc.status, exc)
            return exc.response({"x-request-id": request_id})
        call = Call(request_id, started, parsed.alias)
        self._acct.metrics.in_flight.labels(call.alias).inc()
        handed_off = False
        try:
            response = await _unless_client_leaves(
                request, self._serve(live, parsed, pair, call, forced)
            )
            if response is None:  # the client went away: its upstream calls were cancelled
                self._acct.metrics.client_disconnects.labels(call.alias, "none").inc()
                log.info("request_id=%s client disconnected before the answer", request_id)
                return Response(status_code=499)
            handed_off = isinstance(response, StreamRelay)
            return response
        finally:
            if not handed_off:  # a stream's in-flight count ends when the relay ends
                self._acct.metrics.in_flight.labels(call.alias).dec()

    async def _serve(
        self,
        live: LiveConfig,
        parsed: ParsedRequest,
        pair: AliasUpstreams,
        call: Call,
        forced: Target | None,
    ) -> Response:
        text = request_body.prompt_text(parsed)
        enabled = live.policy.enabled
        classification = live.classifier.classify(text) if enabled else UNCLASSIFIED
        if self._recent is not None and enabled:
            self._recent.add(call.alias, text, classification)
        breakers = self._breakers(call.alias)
        draw = fraction(parsed.raw, secret=live.sampling_secret)
        decision = decide(classification, live.policy, breakers, forced, draw)
        if live.guard is not None and forced is None:
            decision = await self._second_opinion(live.guard, decision, classification, text, call)
        self._acct.decided(call, decision)
        check = Check.plan(decision.escalation, parsed, live.limits.commit_tokens)
        body = check.student_body(parsed.body) if check else parsed.body
        first = await self._try(call, pair, decision.target, decision.reason, parsed, body)
        served = Served(first, first.waited)
        if not first.ok and first.target is Target.STUDENT:
            served = await self._teacher_instead(call, pair, parsed, Reason.FALLBACK, served)
        student_answered = served.attempt.target is Target.STUDENT and served.attempt.answered_200
        if check is not None and student_answered:
            served = await self._check(check, served, pair, parsed, call, decision.category)
        if not served.attempt.ok:
            return self._exhausted(call, served)
        on_served = None
        if decision.shadow and self._shadow is not None:
            on_served = self._shadow_offer(call, decision, parsed, text, live, pair, served)
        return self._respond(served, call, decision.category, live.limits.capture_bytes, on_served)

    async def _second_opinion(
        self,
        guard: GuardClient,
        decision: Decision,
        classification: Classification,
        text: str,
        call: Call,
    ) -> Decision:
        """The guard model's verdict on a request the local decision gives the student
        (`when: uncertain`: only inside the band); bounded by its timeout, before any byte."""
        g = guard.settings
        if decision.target is not Target.STUDENT:
            return decision
        if not router_guard.should_ask(g.when, g.uncertain_band, classification.high_risk):
            return decision
        began = self._clock()
        verdict = await guard.verdict(text, call.request_id + "-guard")
        self._acct.metrics.guard_duration.observe(self._clock() - began)
        self._acct.metrics.guard.labels(verdict.outcome.value).inc()
        if verdict.outcome in (router_guard.Outcome.ERROR, router_guard.Outcome.TIMEOUT):
            log.warning("request_id=%s guard %s; on_error=%s", call.request_id,
                        verdict.outcome.value, g.on_error)  # fmt: skip
        return router_guard.apply(decision, verdict, g.categories, Target(g.on_error))

    async def _try(
        self,
        call: Call,
        pair: AliasUpstreams,
        target: Target,
        reason: Reason,
        parsed: ParsedRequest,
        body: dict[str, object],
    ) -> Attempt:
        request = ("/" + parsed.endpoint.value, body, parsed.stream)
        done = await attempt(pair, target, reason, request, call.request_id, self._clock)
        if done.failure is not None:
            self._acct.upstream_failed(call, target, done.failure)
        return done

    async def _teacher_instead(
        self,
        call: Call,
        pair: AliasUpstreams,
        parsed: ParsedRequest,
        reason: Reason,
        before: Served,
    ) -> Served:
        """Ask the teacher the client's own request, after `before` did not do."""
        done = await self._try(call, pair, Target.TEACHER, reason, parsed, parsed.body)
        if done.ok and reason is Reason.FALLBACK:
            self._acct.fell_back(call)
        return Served(done, before.waited + done.waited, before.student_answer)

    async def _check(
        self,
        check: Check,
        served: Served,
        pair: AliasUpstreams,
        parsed: ParsedRequest,
        call: Call,
        category: str,
    ) -> Served:
        """Keep the student's answer, or replace it with the teacher's when a check fails."""
        answer = served.attempt.answer
        if isinstance(answer, OpenStream):
            try:
                verdict, answer = await check.inspect_stream(answer)
            except UpstreamFailure as exc:
                # The student broke off inside the commit window: nothing was sent yet.
                await answer.aclose()
                self._acct.upstream_failed(call, Target.STUDENT, exc)
                return await self._teacher_instead(call, pair, parsed, Reason.FALLBACK, served)
            except BaseException:  # cancelled: the client left inside the commit window
                await answer.aclose()
                raise
        else:
            assert isinstance(answer, UpstreamReply)
            verdict, answer = check.inspect_reply(answer)
        kept = Served(dataclasses.replace(served.attempt, answer=answer), served.waited)
        if verdict is None:
            return kept
        self._acct.escalated(call, category, verdict)
        replaced = (
            text_of_json(answer.content, check.chat) if isinstance(answer, UpstreamReply) else None
        )
        teacher = await self._teacher_instead(
            call, pair, parsed, verdict, Served(kept.attempt, kept.waited, replaced)
        )
        if teacher.attempt.answered_200:
            if isinstance(answer, OpenStream):
                await answer.aclose()
            return teacher
        refused = teacher.attempt.answer
        if isinstance(refused, UpstreamReply):  # a 4xx: counted; its body is not served
            failure = UpstreamFailure(UpstreamErrorType.HTTP_4XX, f"HTTP {refused.status}")
            self._acct.upstream_failed(call, Target.TEACHER, failure)
        # The teacher failed: the student's answer is still better than an error.
        return Served(kept.attempt, teacher.waited)

    def _shadow_offer(
        self,
        call: Call,
        decision: Decision,
        parsed: ParsedRequest,
        text: str,
        live: LiveConfig,
        pair: AliasUpstreams,
        served: Served,
    ) -> OnServed | None:
        """What to do once the answer is served: offer the pair's other half to the shadow queue."""
        shadow = self._shadow
        if shadow is None or served.attempt.reason is Reason.FALLBACK:
            return None  # the student just failed: there is no pair to compare

        def offer(answer: bytes, is_sse: bool) -> None:
            shadow.offer(
                ShadowJob(
                    request_id=call.request_id,
                    alias=call.alias,
                    category=decision.category,
                    served_by=served.attempt.target,
                    endpoint=parsed.endpoint.value,
                    body=parsed.body,
                    request_text=text,
                    served=answer,
                    served_is_sse=is_sse,
                    noise=sampled(parsed.raw, live.noise_floor_rate, 1, live.sampling_secret),
                    student_answer=served.student_answer,
                    size=len(parsed.raw),
                    reason=served.attempt.reason.value,
                    config_sha256=live.digest,
                    student_model=pair.student.model,
                    teacher_model=pair.teacher.model,
                    probability=decision.shadow_rate,
                )
            )

        return offer

    def _respond(
        self,
        served: Served,
        call: Call,
        category: str,
        capture_bytes: int,
        on_served: OnServed | None,
    ) -> Response:
        answer = served.attempt.answer
        assert answer is not None
        headers = {
            **answer.headers,
            "x-request-id": call.request_id,
            "x-distillgate-route": served.attempt.target.value,
            "x-distillgate-reason": served.attempt.reason.value,
            "x-distillgate-category": category,
        }
        if isinstance(answer, OpenStream):
            headers.setdefault("content-type", "text/event-stream; charset=utf-8")
            headers["cache-control"] = "no-cache"
            return StreamRelay(
                answer,
                headers,
                capture_bytes,
                self._clock,
                lambda outcome: self._acct.stream_done(call, served, outcome, on_served),
            )
        media = headers.pop("content-type", "application/json")
        return Response(
            answer.content,
            answer.status,
            headers,
            media_type=media,
            background=BackgroundTask(self._acct.reply_done, call, served, answer, on_served),
        )

    def _exhausted(self, call: Call, served: Served) -> Response:
        last = served.attempt
        failure = last.failure
        timeout = failure is not None and failure.error_type is UpstreamErrorType.TIMEOUT
        status = 504 if timeout else 502
        kind = failure.error_type.value if failure else "unknown"
        error = GatewayError(
            status,
            f"No upstream could answer for model '{call.alias}' "
            f"(last: {last.target.value}, {kind}).",
            type_="upstream_error",
            code="upstream_timeout" if timeout else "upstream_unavailable",
        )
        self._acct.record(call, served, status, self._clock(), first_sent=None)
        headers = {
            "x-request-id": call.request_id,
            "x-distillgate-route": last.target.value,
            "x-distillgate-reason": last.reason.value,
        }
        return error.response(headers)


async def _unless_client_leaves(
    request: Request, serving: Coroutine[Any, Any, Response]
) -> Response | None:
    """`serving`'s response, or None when the client disconnects first (serving is then
    cancelled, and with it any upstream call it is waiting on)."""
    task = asyncio.ensure_future(serving)
    watch = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    if task.cancelled() or not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    return task.result()


async def _disconnect(request: Request) -> None:
    """Returns when the client disconnects (the body has been read: nothing else arrives)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _forced(value: str | None) -> Target | None:
    if value is None:
        return None
    try:
        return Target(value.strip().lower())
    except ValueError:
        raise ClientError(
            ClientErrorType.INVALID_REQUEST,
            400,
            f"{FORCE_HEADER} must be 'student' or 'teacher', got {value!r}.",
            code="invalid_request",
        ) from None


def _unknown_model(alias: str) -> ClientError:
    return ClientError(
        ClientErrorType.UNKNOWN_MODEL,
        404,
        f"The model '{alias}' does not exist on this gateway; GET /v1/models lists the models.",
        code="model_not_found",
        param="model",
    )

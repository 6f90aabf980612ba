"""Serves one completion request: parse, route, call upstreams (fallback, escalation), respond."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.auth import Authenticator
from gateway.api.errors import ClientError, ClientErrorType, GatewayError
from gateway.config.live import AliasUpstreams, LiveConfig, LiveConfigHolder
from gateway.config.recent import RecentRequests
from gateway.serving import request_body
from gateway.serving.accounting import Accounting, Call
from gateway.serving.answer_checks import Check
from gateway.serving.relay import StreamRelay
from gateway.serving.request_body import Endpoint, ParsedRequest
from gateway.upstream.client import OpenStream, UpstreamErrorType, UpstreamFailure, UpstreamReply
from monitors.answers import text_of_json
from monitors.shadow import ShadowJob, ShadowQueue
from router.classifier import Classification
from router.policy import decide
from router.sampling import fraction, sampled
from router.types import Reason, Target

log = logging.getLogger("distillgate.proxy")
FORCE_HEADER = "x-distillgate-force-route"
Answer = UpstreamReply | OpenStream
UNCLASSIFIED = Classification({}, frozenset())


class Proxy:
    def __init__(
        self,
        live: LiveConfigHolder,
        accounting: Accounting,
        auth: Authenticator,
        breaker_state: Callable[[str], Mapping[str, str]],
        clock: Callable[[], float],
        shadower: ShadowQueue | None = None,
        recent: RecentRequests | None = None,
    ) -> None:
        self._live = live
        self._acct = accounting
        self._auth = auth
        self._breakers = breaker_state
        self._clock = clock
        self._shadower = shadower
        self._recent = recent

    async def handle(self, request: Request, endpoint: Endpoint) -> Response:
        call = Call(request.headers.get("x-request-id") or uuid.uuid4().hex, self._clock())
        live = self._live.current  # this request keeps this config to its end
        try:
            self._auth.check_client(request.headers.get("authorization"))
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
            log.info("request_id=%s refused status=%d: %s", call.request_id, exc.status, exc)
            return exc.response({"x-request-id": call.request_id})
        call.alias = parsed.alias
        self._acct.metrics.in_flight.labels(call.alias).inc()
        handed_off = False
        try:
            response = await self._serve(live, parsed, pair, call, forced)
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
        decision = decide(classification, live.policy, breakers, forced, fraction(parsed.raw))
        self._acct.decided(call, decision)
        if decision.shadow and self._shadower is not None:
            call.on_served = self._shadow_offer(call, parsed, text, live.noise_floor_rate)
        check = Check.plan(decision.escalation, parsed, live.limits.commit_tokens)
        body = check.student_body(parsed.body) if check else parsed.body
        answer = await self._call(pair, decision.target, parsed, body, call, decision.reason)
        if answer is None and decision.target is Target.STUDENT:
            answer = await self._call(
                pair, Target.TEACHER, parsed, parsed.body, call, Reason.FALLBACK
            )
            if answer is not None:
                self._acct.metrics.fallbacks.labels(call.alias).inc()
        if answer is None:
            return self._exhausted(call)
        if check is not None and call.route is Target.STUDENT and _is_ok(answer):
            answer = await self._check(check, answer, pair, parsed, call)
        return self._respond(answer, call, live.limits.capture_bytes)

    async def _check(
        self, check: Check, answer: Answer, pair: AliasUpstreams, parsed: ParsedRequest, call: Call
    ) -> Answer:
        """Keep the student's answer, or replace it with the teacher's when a check fails."""
        if isinstance(answer, OpenStream):
            try:
                verdict, answer = await check.inspect_stream(answer)
            except UpstreamFailure as exc:
                # The student broke off inside the commit window: nothing was sent yet.
                await answer.aclose()
                self._acct.upstream_failed(call, Target.STUDENT, exc)
                teacher = await self._call(pair, Target.TEACHER, parsed, parsed.body, call,
                                           Reason.FALLBACK)  # fmt: skip
                if teacher is None:
                    raise
                self._acct.metrics.fallbacks.labels(call.alias).inc()
                return teacher
        else:
            verdict, answer = check.inspect_reply(answer)
        if verdict is None:
            return answer
        self._acct.escalated(call, verdict)
        student_route, student_reason = call.route, call.reason
        if isinstance(answer, UpstreamReply):
            call.student_answer = text_of_json(answer.content, check.chat)
        teacher = await self._call(pair, Target.TEACHER, parsed, parsed.body, call, verdict)
        if teacher is not None:
            if isinstance(answer, OpenStream):
                await answer.aclose()
            return teacher
        # The teacher failed: the student's answer is still better than an error.
        call.route, call.reason = student_route, student_reason
        return answer

    async def _call(
        self,
        pair: AliasUpstreams,
        target: Target,
        parsed: ParsedRequest,
        body: dict[str, Any],
        call: Call,
        reason: Reason,
    ) -> Answer | None:
        """One upstream attempt; None (failure recorded) when it cannot serve the request."""
        call.route, call.reason = target, reason
        upstream = pair.get(target)
        payload = orjson.dumps({**body, "model": upstream.model})
        path = "/" + parsed.endpoint.value
        began = self._clock()
        try:
            if parsed.stream:
                answer: Answer = await upstream.open_stream(path, payload, call.request_id)
            else:
                answer = await upstream.post(path, payload, call.request_id)
        except UpstreamFailure as exc:
            self._acct.upstream_failed(call, target, exc)
            return None
        finally:
            call.upstream_wait += self._clock() - began
        if isinstance(answer, UpstreamReply) and answer.status >= 500:
            failure = UpstreamFailure(UpstreamErrorType.HTTP_5XX, f"HTTP {answer.status}")
            self._acct.upstream_failed(call, target, failure)
            return None
        return answer

    def _shadow_offer(
        self, call: Call, parsed: ParsedRequest, text: str, noise_rate: float
    ) -> Callable[[bytes, bool], None]:
        """What to do once the answer is served: offer the pair's other half to the shadow queue."""
        shadower = self._shadower
        assert shadower is not None

        def offer(served: bytes, is_sse: bool) -> None:
            assert call.decision is not None and call.route is not None
            if call.reason is Reason.FALLBACK:
                return  # the student just failed: there is no pair to compare
            shadower.offer(
                ShadowJob(
                    request_id=call.request_id,
                    alias=call.alias,
                    category=call.decision.category,
                    served_by=call.route,
                    endpoint=parsed.endpoint.value,
                    body=parsed.body,
                    request_text=text,
                    served=served,
                    served_is_sse=is_sse,
                    noise=sampled(parsed.raw, noise_rate, salt=1),
                    student_answer=call.student_answer,
                )
            )

        return offer

    def _respond(self, answer: Answer, call: Call, capture_bytes: int) -> Response:
        assert call.route is not None and call.reason is not None and call.decision is not None
        headers = {
            **answer.headers,
            "x-request-id": call.request_id,
            "x-distillgate-route": call.route.value,
            "x-distillgate-reason": call.reason.value,
            "x-distillgate-category": call.decision.category,
        }
        if isinstance(answer, OpenStream):
            headers.setdefault("content-type", "text/event-stream; charset=utf-8")
            headers["cache-control"] = "no-cache"
            return StreamRelay(
                answer,
                headers,
                capture_bytes,
                self._clock,
                lambda outcome: self._acct.stream_done(call, outcome),
            )
        media = headers.pop("content-type", "application/json")
        return Response(
            answer.content,
            answer.status,
            headers,
            media_type=media,
            background=BackgroundTask(self._acct.reply_done, call, answer),
        )

    def _exhausted(self, call: Call) -> Response:
        failure = call.failure
        timeout = failure is not None and failure.error_type is UpstreamErrorType.TIMEOUT
        status = 504 if timeout else 502
        last = failure.error_type.value if failure else "unknown"
        error = GatewayError(
            status,
            f"No upstream could answer for model '{call.alias}' "
            f"(last: {call.route.value if call.route else '?'}, {last}).",
            type_="upstream_error",
            code="upstream_timeout" if timeout else "upstream_unavailable",
        )
        self._acct.record(call, status, self._clock(), first_sent=None)
        headers = {"x-request-id": call.request_id}
        if call.route is not None and call.reason is not None:
            headers["x-distillgate-route"] = call.route.value
            headers["x-distillgate-reason"] = call.reason.value
        return error.response(headers)


def _is_ok(answer: Answer) -> bool:
    return isinstance(answer, OpenStream) or answer.status == 200


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

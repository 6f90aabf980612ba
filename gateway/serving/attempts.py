"""One upstream attempt as a value: who was asked, why, and the answer or the failure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.upstream.aliases import AliasUpstreams
from gateway.upstream.client import (
    OpenStream,
    UpstreamErrorType,
    UpstreamFailure,
    UpstreamReply,
)
from router.types import Reason, Target

Answer = UpstreamReply | OpenStream


@dataclass(frozen=True, slots=True)
class Attempt:
    """`answer` when the upstream answered (a 4xx included: it is the client's to read),
    else `failure`. `waited` is the time spent waiting on the upstream."""

    target: Target
    reason: Reason
    answer: Answer | None
    failure: UpstreamFailure | None
    waited: float

    @property
    def ok(self) -> bool:
        return self.answer is not None

    @property
    def answered_200(self) -> bool:
        return isinstance(self.answer, OpenStream) or (
            isinstance(self.answer, UpstreamReply) and self.answer.status == 200
        )


@dataclass(frozen=True, slots=True)
class Served:
    """What a request ends with: the last attempt and the upstream wait of all attempts."""

    attempt: Attempt
    waited: float
    student_answer: str | None = None  # the student's answer an escalation replaced


async def attempt(
    pair: AliasUpstreams,
    target: Target,
    reason: Reason,
    request: tuple[str, dict[str, Any], bool],
    request_id: str,
    clock: Callable[[], float],
) -> Attempt:
    """Ask `target` once; `request` is (path, body, stream). A 5xx counts as a failure."""
    path, body, stream = request
    upstream = pair.get(target)
    payload = orjson.dumps({**body, "model": upstream.model})
    began = clock()
    try:
        if stream:
            answer: Answer = await upstream.open_stream(path, payload, request_id)
        else:
            answer = await upstream.post(path, payload, request_id)
    except UpstreamFailure as exc:
        return Attempt(target, reason, None, exc, clock() - began)
    waited = clock() - began
    if isinstance(answer, UpstreamReply) and answer.status >= 500:
        failure = UpstreamFailure(UpstreamErrorType.HTTP_5XX, f"HTTP {answer.status}")
        return Attempt(target, reason, None, failure, waited)
    return Attempt(target, reason, answer, None, waited)

"""The running configuration as one immutable value, swapped whole when the config reloads.

A request reads `LiveConfigHolder.current` once and keeps that value to its end, so
requests in flight finish with the config they started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from gateway.config.settings import LoadedConfig, Settings
from gateway.upstream.client import Upstream
from router.classifier import Classifier
from router.types import Policy, Target


@dataclass(frozen=True)
class AliasUpstreams:
    student: Upstream
    teacher: Upstream

    def get(self, target: Target) -> Upstream:
        return self.student if target is Target.STUDENT else self.teacher

    async def aclose(self) -> None:
        await self.teacher.aclose()
        await self.student.aclose()


def upstreams_of(
    config: LoadedConfig, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, AliasUpstreams]:
    """A student and a teacher client for every model alias of a loaded config."""
    return {
        alias: AliasUpstreams(
            student=Upstream(pair.student, config.api_keys[(alias, "student")], transport),
            teacher=Upstream(pair.teacher, config.api_keys[(alias, "teacher")], transport),
        )
        for alias, pair in config.settings.models.items()
    }


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    capture_bytes: int
    commit_tokens: int


@dataclass(frozen=True)
class LiveConfig:
    settings: Settings
    digest: str
    aliases: Mapping[str, AliasUpstreams]
    policy: Policy
    classifier: Classifier
    limits: Limits
    noise_floor_rate: float

    @staticmethod
    def limits_of(settings: Settings) -> Limits:
        return Limits(
            settings.server.max_body_bytes,
            settings.server.stream_capture_bytes,
            settings.routing.escalation.commit_tokens,
        )


class LiveConfigHolder:
    def __init__(self) -> None:
        self._current: LiveConfig | None = None

    @property
    def current(self) -> LiveConfig:
        if self._current is None:
            raise RuntimeError("the gateway has no configuration yet")
        return self._current

    @property
    def ready(self) -> bool:
        return self._current is not None

    def swap(self, new: LiveConfig | None) -> None:
        self._current = new

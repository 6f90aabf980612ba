"""The student and teacher clients behind each model alias, built from a loaded config."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from gateway.config.load import LoadedConfig
from gateway.upstream.client import Upstream
from router.types import Target


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

"""The running configuration as one immutable value, swapped whole when the config reloads.

A request reads `LiveConfigHolder.current` once and keeps that value to its end, so
requests in flight finish with the config they started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config.load import LoadedConfig
from gateway.config.router_build import RouterParts
from gateway.config.settings import Settings
from gateway.upstream.aliases import AliasUpstreams
from gateway.upstream.guard_client import GuardClient
from router.classifier import Classifier
from router.types import Policy


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
    sampling_secret: bytes
    guard: GuardClient | None = None  # the guard model, when one is configured

    @classmethod
    def first(
        cls,
        config: LoadedConfig,
        aliases: Mapping[str, AliasUpstreams],
        router: RouterParts,
        guard: GuardClient | None = None,
    ) -> LiveConfig:
        """The config a process starts with."""
        settings = config.settings
        return cls(
            settings, config.digest, aliases, router.policy, router.classifier,
            cls.limits_of(settings), settings.shadow.noise_floor_rate, config.sampling_secret,
            guard,
        )  # fmt: skip

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

"""The guard model's part in offline commands (route-explain, route-eval --guard): the
same second opinion the gateway asks for, called live."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from gateway.config.load import load
from gateway.upstream.guard_client import GuardClient, guard_of
from router import guard as router_guard
from router.classifier import Classification
from router.types import Decision, Target

CONCURRENCY = 8


def guard_client(config_path: str | None) -> GuardClient | None:
    """The config's guard client (None without a config or a guard); raises ConfigError."""
    return guard_of(load(config_path, os.environ)) if config_path is not None else None


def with_guard(
    guard: GuardClient,
    items: Sequence[tuple[str, Classification, Decision]],
) -> list[tuple[Decision, router_guard.Verdict | None]]:
    """Each (text, classification, decision) after the guard's verdict, where the gateway
    would ask for one (None where it would not)."""
    return asyncio.run(_all(guard, items))


async def _all(
    guard: GuardClient, items: Sequence[tuple[str, Classification, Decision]]
) -> list[tuple[Decision, router_guard.Verdict | None]]:
    slots = asyncio.Semaphore(CONCURRENCY)
    g = guard.settings

    async def one(
        text: str, c: Classification, d: Decision
    ) -> tuple[Decision, router_guard.Verdict | None]:
        if d.target is not Target.STUDENT or not router_guard.should_ask(
            g.when, g.uncertain_band, c.high_risk
        ):
            return d, None
        async with slots:
            verdict = await guard.verdict(text, "offline")
        return router_guard.apply(d, verdict, g.categories, Target(g.on_error)), verdict

    try:
        return list(await asyncio.gather(*(one(*item) for item in items)))
    finally:
        await guard.aclose()

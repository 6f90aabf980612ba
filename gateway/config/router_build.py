"""Builds the router's plain-value policy and its classifier from the routing settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.config import files
from gateway.config.settings import DATA, RoutingSettings
from router import models
from router.classifier import Classifier, KeywordRules
from router.judgment import Heads
from router.types import CategoryPolicy, EscalationRule, Policy, Target

SHIPPED_EXAMPLES = DATA / "router" / "examples.tsv"


@dataclass(frozen=True)
class RouterParts:
    policy: Policy
    classifier: Classifier


def build(routing: RoutingSettings, base_dir: Path | None = None) -> RouterParts:
    """The configured classifier: `static` (the shipped model, its heads refitted when an
    `examples_file` adds labeled prompts) or `ngram` (trained here on the shipped examples
    of the configured categories plus `examples_file`). Blocking: seconds of CPU at most."""
    extra: list[tuple[str, str]] = []
    if routing.examples_file:
        extra = files.read_examples(examples_path(routing, base_dir), routing.categories)
    shipped = []
    if routing.classifier == "ngram":
        shipped = [e for e in read_examples(SHIPPED_EXAMPLES) if e[0] in routing.categories]
    classifier = models.build(
        routing.classifier, tuple(routing.categories), routing.default_category,
        examples=shipped, extra=extra,
        rules=KeywordRules.compile({n: c.keywords for n, c in routing.categories.items()}),
        keyword_boost=routing.keyword_boost,
    )  # fmt: skip
    return RouterParts(policy(routing), classifier)


def policy(routing: RoutingSettings) -> Policy:
    quantile = routing.escalation.low_quantile
    return Policy(
        categories={
            name: CategoryPolicy(
                name=name,
                risk=c.risk,
                route=c.route,
                max_gap=c.max_gap,
                shadow_rate=c.shadow_rate,
                escalation=EscalationRule(
                    c.min_mean_logprob, c.min_low_logprob, c.escalate_on_refusal, quantile
                ),
            )
            for name, c in routing.categories.items()
        },
        enabled=routing.enabled,
        default_category=routing.default_category,
        ambiguity_margin=routing.ambiguity_margin,
        high_risk_signal=routing.high_risk_signal,
        min_confidence=routing.min_confidence,
        keyword_signals=routing.keyword_signals,
        allow_forced_route=routing.allow_route_header,
        high_risk_threshold=high_risk_threshold(routing),
        unreadable_target=Target(routing.unreadable_route),
    )


def high_risk_threshold(routing: RoutingSettings) -> float | None:
    """The configured threshold, else the static model's own (chosen with its heads)."""
    if routing.high_risk_threshold is not None:
        return routing.high_risk_threshold
    return Heads.load().threshold if routing.classifier == "static" else None


def examples_path(routing: RoutingSettings, base_dir: Path | None) -> Path:
    """`examples_file`, relative to the config's directory."""
    path = Path(routing.examples_file or "")
    return path if path.is_absolute() else (base_dir or Path()) / path


def read_examples(path: Path) -> list[tuple[str, str]]:
    """The shipped TSV (header, then category<TAB>prompt); a user's file goes through
    files.read_examples, which checks it."""
    lines = path.read_text().splitlines()[1:]
    return [(c.strip(), p.strip()) for c, _, p in (line.partition("\t") for line in lines) if p]

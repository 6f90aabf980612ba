"""The gateway's settings: the pydantic models of the YAML file (loading is in `load`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitors.scorers import DEFAULT_WEIGHTS, KNOWN_SCORERS
from monitors.semantic import INSTALL_HINT, installed
from router.types import HIGH_RISK_SIGNAL, Risk, RouteMode

DATA = Path(__file__).parent.parent / "data"

PositiveFloat = Annotated[float, Field(gt=0)]
CATEGORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamSettings(_Strict):
    """One OpenAI-compatible server (vLLM for the student, anything OpenAI-shaped as teacher)."""

    base_url: str
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    # Longest silence accepted from the upstream: before the first byte, and between chunks.
    timeout_s: PositiveFloat = 60.0
    connect_timeout_s: PositiveFloat = 5.0
    # At most this many requests in flight to this upstream at once; more wait for a free
    # connection (up to timeout_s). Keep it at or above what the server batches (vLLM's
    # max_num_seqs, 256 by default or more): a lower cap queues requests in the gateway
    # while the GPU could take them. Each connection is a file descriptor.
    max_connections: int = Field(default=512, ge=1)
    # Connections are spread over several httpx clients: one client's pool slows down
    # badly with many requests in flight (see PERFORMANCE.md).
    clients: int = Field(default=4, ge=1, le=64)
    # native: the gateway's own HTTP/1.1 client (fast); httpx: the general-purpose one.
    client: Literal["native", "httpx"] = "native"

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


class AliasSettings(_Strict):
    """A public model name and the two upstreams behind it."""

    student: UpstreamSettings
    teacher: UpstreamSettings


class ServerSettings(_Strict):
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # How much of a streamed answer is kept for the shadow path; the rest is relayed only.
    stream_capture_bytes: int = Field(default=1024 * 1024, ge=0)
    readiness_timeout_s: PositiveFloat = 2.0
    # /docs, /redoc and /openapi.json describe every endpoint, the admin ones too: off
    # unless asked for.
    docs: bool = False


class CategorySettings(_Strict):
    """One risk category: how it is routed, its acceptable gap, how it is recognised."""

    risk: Risk
    route: RouteMode
    max_gap: float = Field(default=0.2, ge=0, le=1)
    shadow_rate: float = Field(default=0.05, ge=0, le=1)
    keywords: list[str] = Field(default_factory=list)
    # Escalation checks on the student's answer (null: not checked).
    min_mean_logprob: float | None = Field(default=None, le=0)
    min_low_logprob: float | None = Field(default=None, le=0)
    escalate_on_refusal: bool = False

    @field_validator("keywords")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for i, word in enumerate(value):
            try:
                re.compile(word)
            except re.error as exc:
                raise ValueError(f"keyword {i} is not a valid pattern: {exc.msg}") from None
            if re.sub(r"\\[A-Z]", "", word) != re.sub(r"\\[A-Z]", "", word).lower():
                raise ValueError(f"keyword {i}: keywords match the lowercased prompt, "
                                 "so write them in lower case")  # fmt: skip
        return value


class EscalationSettings(_Strict):
    low_quantile: float = Field(default=0.1, gt=0, lt=1)
    commit_tokens: int = Field(default=0, ge=0, le=512)


# Llama Guard 3's hazard codes -> the shipped categories (S6, specialized advice, covers
# medical, legal and financial advice; medical is the one the teacher serves by default).
GUARD_CATEGORIES = {
    "S1": "violence", "S2": "crime", "S3": "sexual", "S4": "sexual", "S5": "legal",
    "S6": "medical", "S7": "privacy", "S8": "legal", "S9": "violence", "S10": "hate",
    "S11": "self_harm", "S12": "sexual", "S13": "legal", "S14": "cyber",
}  # fmt: skip


class GuardSettings(_Strict):
    """A guard model (Llama Guard 3 served by vLLM, for example) as a second opinion on the
    requests the local classifier would give the student."""

    base_url: str
    model: str = Field(min_length=1)
    api_key_env: str | None = None
    format: Literal["llama-guard-3"] = "llama-guard-3"
    timeout_ms: int = Field(default=150, ge=1, le=10_000)
    when: Literal["uncertain", "always"] = "uncertain"
    # with `uncertain`: asked when the local harmful probability is in this band
    uncertain_band: tuple[float, float] = (0.05, 0.6)
    on_error: Literal["teacher", "student"] = "teacher"  # a failed or late guard
    categories: dict[str, str] = Field(default_factory=lambda: dict(GUARD_CATEGORIES))

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("uncertain_band")
    @classmethod
    def _band(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] < value[1] <= 1:
            raise ValueError("must be [low, high] with 0 <= low < high <= 1")
        return value


class RoutingSettings(_Strict):
    enabled: bool = True  # false: no classification, every request to the student
    classifier: Literal["static", "ngram"] = "static"
    default_category: str = "general"
    # The classifier's harmful probability at or above this: the teacher (None: the
    # static model's own threshold; the ngram model has no such head).
    high_risk_threshold: float | None = Field(default=None, gt=0, le=1)
    unreadable_route: Literal["teacher", "student"] = "teacher"
    guard: GuardSettings | None = None  # off unless configured
    ambiguity_margin: float = Field(default=0.15, ge=0, le=1)
    high_risk_signal: float = Field(default=HIGH_RISK_SIGNAL, gt=0, le=1)
    min_confidence: float = Field(default=0.0, ge=0, le=1)
    keyword_signals: bool = True
    keyword_boost: float = Field(default=0.5, ge=0, le=20)
    allow_route_header: bool = False
    examples_file: str | None = None
    escalation: EscalationSettings = EscalationSettings()
    categories: dict[str, CategorySettings] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _header_safe_names(cls, value: dict[str, CategorySettings]) -> dict[str, CategorySettings]:
        # A category travels in a response header and a metric label: ASCII names only.
        bad = [name for name in value if not CATEGORY_NAME.fullmatch(name)]
        if bad:
            raise ValueError(
                f"{len(bad)} category name(s) must be 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _default_exists(self) -> RoutingSettings:
        if self.default_category not in self.categories:
            raise ValueError(
                f"default_category {self.default_category!r} is not one of the categories"
            )
        if self.guard is not None:
            unknown = sorted(set(self.guard.categories.values()) - set(self.categories))
            if unknown:
                raise ValueError(f"guard.categories maps to categories not configured: {unknown}")
        return self


class PairRecordsConfig(_Strict):
    """JSONL of scored pairs (personal data redacted), for audits and the next distillation."""

    enabled: bool = False
    path: str = "distillgate-pairs.jsonl"
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    backups: int = Field(default=5, ge=0, le=100)


class ShadowConfig(_Strict):
    """Shadowing: after serving, ask the model that did not serve, and score the pair."""

    enabled: bool = True
    queue_size: int = Field(default=1000, ge=1)
    workers: int = Field(default=2, ge=1, le=64)
    max_teacher_rps: float = Field(default=5.0, gt=0)
    max_teacher_tokens_per_min: float = Field(default=200_000.0, gt=0)
    noise_floor_rate: float = Field(default=0.1, ge=0, le=1)
    judge_rate: float = Field(default=0.0, ge=0, le=1)  # pairs also judged by the teacher
    judge_max_tokens: int = Field(default=16, ge=8, le=256)
    judge_json_mode: bool = True  # response_format json_object for the judge's calls
    # Jobs waiting to be shadowed hold at most this many bytes (request plus kept answer);
    # more are dropped and counted (reason queue_bytes). With Redis: each gateway's buffer.
    queue_max_bytes: int = Field(default=64 << 20, ge=1 << 20)
    # Each answer and the request are cut to this many characters before scoring and in
    # pair records (counted in distillgate_shadow_truncated_total).
    max_text_chars: int = Field(default=32_000, ge=1000)
    # The environment variable holding the secret that keys shadow sampling (the same on
    # every replica): without it a client can compute which of its requests are shadowed.
    sampling_secret_env: str = "DISTILLGATE_SAMPLING_SECRET"
    records: PairRecordsConfig = PairRecordsConfig()


class MonitorConfig(_Strict):
    """The gap windows and breakers."""

    window_s: float = Field(default=3600.0, gt=0)
    min_samples: int = Field(default=30, ge=2)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    illusion_surface: float = Field(default=0.5, ge=0, le=1)
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    semantic: bool = False  # the MiniLM scorer; needs the extra distillgate[semantic]

    @field_validator("weights")
    @classmethod
    def _known_scorers(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - KNOWN_SCORERS)
        if unknown:
            raise ValueError(f"unknown scorers {unknown}; known: {sorted(KNOWN_SCORERS)}")
        if any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("weights must be >= 0 with at least one > 0")
        return value

    @field_validator("semantic")
    @classmethod
    def _semantic_installed(cls, value: bool) -> bool:
        if value and not installed():
            raise ValueError(INSTALL_HINT)
        return value


class ReloadConfig(_Strict):
    """Reload on file change (polling mtime, inode and size); SIGHUP and the admin
    endpoint always work."""

    watch: bool = False
    interval_s: float = Field(default=2.0, gt=0)
    # Upstream clients a reload replaced stay open this long for requests still using them.
    retire_after_s: float = Field(default=600.0, ge=0)


class StateConfig(_Strict):
    """Where the gap windows, breakers and shadow jobs live: in process, or in Redis so that
    several replicas agree (and shadow workers can run as their own process)."""

    backend: Literal["memory", "redis"] = "memory"
    url: str = "redis://127.0.0.1:6379/0"  # rediss:// for TLS; a password via ${NAME}
    key_prefix: str = Field(default="distillgate", min_length=1)
    pool_size: int = Field(default=16, ge=2, le=1000)
    timeout_s: float = Field(default=0.5, gt=0, le=30)  # per call, and waiting for a connection
    refresh_s: float = Field(default=0.5, gt=0, le=60)  # how often replicas mirror the state
    # Jobs kept in the stream at most (done jobs are deleted at once; this caps a backlog).
    # Size it by bytes: stream_max_len x (mean request + mean answer) must fit in Redis'
    # maxmemory with room for the windows (README, "Several replicas").
    stream_max_len: int = Field(default=10_000, ge=100)
    claim_idle_s: float = Field(default=30.0, gt=0)  # a job pending this long is reclaimed
    workers_in_process: bool = True  # the gateway also consumes; false: shadow-worker only

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


class Settings(_Strict):
    models: dict[str, AliasSettings] = Field(min_length=1)
    server: ServerSettings = ServerSettings()
    routing: RoutingSettings
    shadow: ShadowConfig = ShadowConfig()
    monitor: MonitorConfig = MonitorConfig()
    reload: ReloadConfig = ReloadConfig()
    state: StateConfig = StateConfig()

    @field_validator("models")
    @classmethod
    def _alias_names(cls, value: dict[str, AliasSettings]) -> dict[str, AliasSettings]:
        for name in value:
            if not name or name != name.strip():
                raise ValueError(
                    f"model alias {name!r} must be non-empty without surrounding spaces"
                )
        return value

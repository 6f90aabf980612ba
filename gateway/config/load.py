"""Reading a config: the YAML file, `${NAME}` expansion, the shipped routing merged in,
validation with every problem reported at once, upstream keys from the environment."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.config import envsubst, files, router_build
from gateway.config.routing_merge import effective_routing
from gateway.config.settings import DATA, Settings

DEFAULT_ROUTING = DATA / "router" / "default_routing.yaml"
GUARD_KEY = ("_guard", "guard")  # where the guard's key sits in LoadedConfig.api_keys


class ConfigError(Exception):
    """An unusable config; `problems` holds one line per problem, each with its key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    api_keys: Mapping[tuple[str, str], str | None]  # (alias, "student"|"teacher") -> key
    digest: str  # sha256 of the file's bytes, for logs and the config info metric
    base_dir: Path = Path()  # relative paths in the file (examples_file) start here
    path: Path | None = None  # the file it came from, for reloads
    sampling_secret: bytes = b""  # keys shadow sampling (shadow.sampling_secret_env)


def load(path: str | Path, environ: Mapping[str, str]) -> LoadedConfig:
    """Read, expand and validate a config file and the files it names; raise ConfigError
    listing every problem. Blocking: the gateway calls it from a worker thread."""
    source, path = str(path), Path(path)
    try:
        raw = files.read_bounded(path, files.MAX_CONFIG_BYTES)
    except files.FileProblem as exc:
        raise ConfigError(source, [f"<file>: {exc}"]) from None
    loaded = parse(raw, environ, source)
    check_files(loaded.settings, path.parent, source)
    return dataclasses.replace(loaded, base_dir=path.parent, path=path)


def parse(
    raw: bytes,
    environ: Mapping[str, str],
    source: str = "<config>",
    *,
    expand: bool = True,
) -> LoadedConfig:
    """Validate a config's text. With `expand=False` (a config sent over HTTP) nothing is
    taken from the environment: a `${NAME}` reference is a problem, and upstream keys are
    not looked up (a dry run needs none)."""
    try:
        data = files.load_yaml(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"<yaml>: {_yaml_message(exc)}"]) from None
    except files.FileProblem as exc:
        raise ConfigError(source, [f"<yaml>: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, ["<root>: must be a mapping with at least the key 'models'"])
    problems: list[str] = []
    data["routing"] = effective_routing(data.get("routing"), default_routing(), problems)
    if expand:
        data = envsubst.expand(data, environ, problems)
        keys = _api_keys(data, environ, problems)
    else:
        problems += [
            f"{where}: a ${{NAME}} reference is not expanded in a config sent over HTTP "
            "(check-config --against expands it where it runs)"
            for where in envsubst.references(data)
        ]
        keys = {}
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"]) or "<root>"
            problems.append(f"{where}: {err['msg']}")
    if problems:
        raise ConfigError(source, problems)
    secret = environ.get(settings.shadow.sampling_secret_env, "") if expand else ""
    return LoadedConfig(
        settings, keys, hashlib.sha256(raw).hexdigest(), sampling_secret=secret.encode()
    )


def check_files(settings: Settings, base_dir: Path, source: str) -> None:
    """The files a valid config names can be read and hold what they must."""
    routing = settings.routing
    if routing.examples_file is None:
        return
    try:
        files.read_examples(router_build.examples_path(routing, base_dir), routing.categories)
    except files.FileProblem as exc:
        raise ConfigError(source, [f"routing.examples_file: {exc}"]) from None


def default_routing() -> dict[str, Any]:
    """The shipped routing section (gateway/data/router/default_routing.yaml)."""
    loaded: dict[str, Any] = yaml.safe_load(DEFAULT_ROUTING.read_text())
    return loaded


def _api_keys(
    data: dict[str, Any], environ: Mapping[str, str], problems: list[str]
) -> dict[tuple[str, str], str | None]:
    """Look up each upstream's key; runs on the raw tree so its problems join the others."""
    keys: dict[tuple[str, str], str | None] = {}
    models = data.get("models")
    for alias, pair in models.items() if isinstance(models, dict) else ():
        for role in ("student", "teacher"):
            upstream = pair.get(role) if isinstance(pair, dict) else None
            env_name = upstream.get("api_key_env") if isinstance(upstream, dict) else None
            key = environ.get(env_name) if isinstance(env_name, str) else None
            key = key.strip() if key is not None else None  # a newline from a secret file
            where = f"models.{alias}.{role}.api_key_env"
            if isinstance(env_name, str) and not key:
                problems.append(f"{where}: environment variable {env_name} is not set")
            elif key is not None and any(ord(c) < 32 or ord(c) == 127 for c in key):
                problems.append(f"{where}: the key in {env_name} has control characters")
                key = None
            keys[(str(alias), role)] = key
    routing = data.get("routing")
    guard = routing.get("guard") if isinstance(routing, dict) else None
    env_name = guard.get("api_key_env") if isinstance(guard, dict) else None
    if isinstance(env_name, str):
        key = (environ.get(env_name) or "").strip()
        if not key:
            problems.append(
                f"routing.guard.api_key_env: environment variable {env_name} is not set"
            )
        keys[GUARD_KEY] = key or None
    return keys


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)

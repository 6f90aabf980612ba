"""Loading what a command needs: a config (every problem printed with its key path) or a
router built from a config or from the shipped routing section."""

from __future__ import annotations

import os
import sys

from gateway.config import router_build
from gateway.config.load import ConfigError, LoadedConfig, default_routing, load
from gateway.config.router_build import RouterParts
from gateway.config.settings import RoutingSettings


def config_or_report(path: str) -> LoadedConfig | None:
    """The config at `path`, or None after printing every problem with its key path."""
    try:
        return load(path, os.environ)
    except ConfigError as exc:
        print_problems(exc)
        return None


def print_problems(exc: ConfigError) -> None:
    print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)


def router_of(config_path: str | None) -> RouterParts:
    """The router of a config file, or of the shipped default routing section; raises
    ConfigError."""
    if config_path is None:
        return router_build.build(RoutingSettings.model_validate(default_routing()))
    loaded = load(config_path, os.environ)
    return router_build.build(loaded.settings.routing, loaded.base_dir)

"""`distillgate check-config`: validate a config, print the effective routing, and
optionally ask a running gateway what the file would change (a dry-run reload)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx
import yaml

from gateway.commands.loading import config_or_report
from gateway.config import envsubst
from gateway.config.files import load_yaml

HELP = "validate a config file and print its effective routing; exit 1 on any problem"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file")
    parser.add_argument(
        "--against",
        metavar="URL",
        help="also ask this running gateway what the file would change (a dry-run reload; "
        "admin key from DISTILLGATE_ADMIN_KEY)",
    )


def run(args: argparse.Namespace) -> int:
    loaded = config_or_report(args.file)
    if loaded is None:
        return 1
    aliases = ", ".join(loaded.settings.models)
    print(f"{args.file}: OK (models: {aliases}; sha256 {loaded.digest[:12]})")
    routing = loaded.settings.routing.model_dump(mode="json")
    print("\n# the shipped routing with this file's own keys merged in")
    print(yaml.safe_dump({"effective routing": routing}, sort_keys=False, width=100), end="")
    if args.against:
        return _dry_run_against(args.against, _expanded(Path(args.file)))
    return 0


def _expanded(path: Path) -> bytes:
    """The file with its `${NAME}` references expanded here: a gateway expands nothing in a
    config sent to it (it would read its own environment for whoever sends one)."""
    problems: list[str] = []
    tree = envsubst.expand(load_yaml(path.read_bytes()), os.environ, problems)
    return yaml.safe_dump(tree, sort_keys=False).encode()


def _dry_run_against(url: str, raw: bytes) -> int:
    key = os.environ.get("DISTILLGATE_ADMIN_KEY", "")
    try:
        response = httpx.post(
            url.rstrip("/") + "/admin/reload",
            params={"dry_run": "true"},
            content=raw,
            headers={"authorization": f"Bearer {key}", "content-type": "application/yaml"},
            timeout=60,
        )
    except httpx.HTTPError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0 if response.status_code == 200 else 1

"""Expands `${NAME}` and `${NAME:-default}` in the string values of a parsed YAML tree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(node: Any, environ: Mapping[str, str], problems: list[str], path: str = "") -> Any:
    """Return `node` with references expanded; unset variables without a default go to `problems`.

    Only values are expanded, never keys, and a value is expanded once: a variable's
    content is taken literally, so `$` in a secret cannot trigger a second lookup.
    """
    if isinstance(node, str):
        return _expand_str(node, environ, problems, path)
    if isinstance(node, dict):
        return {k: expand(v, environ, problems, _join(path, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [expand(v, environ, problems, _join(path, str(i))) for i, v in enumerate(node)]
    return node


def _expand_str(value: str, environ: Mapping[str, str], problems: list[str], path: str) -> str:
    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found is not None and (found != "" or default is None):
            return found
        if default is not None:
            return default
        problems.append(f"{path or '<root>'}: environment variable {name} is not set")
        return ""

    return _REF.sub(sub, value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def references(node: Any, path: str = "") -> list[str]:
    """The key paths of string values that hold a `${NAME}` reference."""
    if isinstance(node, str):
        return [path or "<root>"] if _REF.search(node) else []
    if isinstance(node, dict):
        return [w for k, v in node.items() for w in references(v, _join(path, str(k)))]
    if isinstance(node, list):
        return [w for i, v in enumerate(node) for w in references(v, _join(path, str(i)))]
    return []

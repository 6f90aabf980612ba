"""Reading the files a config involves, safely: regular files only, a size cap, YAML whose
aliases cannot expand it past a bound, labeled examples checked row by row.

Everything here is blocking and meant to run in a worker thread with a timeout (a config
on a hung network share must not stop the event loop or hold the reload lock).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

MAX_CONFIG_BYTES = 1 << 20
MAX_EXAMPLES_BYTES = 16 << 20
# A real config is a few thousand YAML nodes; "billion laughs" aliases reach millions.
MAX_YAML_NODES = 100_000
READ_TIMEOUT_S = 5.0


class FileProblem(Exception):
    """What is wrong with a file, in words fit for a config problem line."""


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; FileProblem for anything but a readable regular file of at most
    `max_bytes` (a named pipe, /dev/zero or a directory is refused before any read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise FileProblem("not a regular file")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileProblem(f"larger than {max_bytes} bytes")
    return data


def load_yaml(raw: bytes) -> Any:
    """Parse one YAML document with the safe loader, refusing one whose aliases expand it
    past MAX_YAML_NODES; yaml.YAMLError or FileProblem."""
    loader = yaml.SafeLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_nodes(node, {}, [0])
        return loader.construct_document(node)
    except RecursionError:
        raise FileProblem("nested too deeply") from None
    finally:
        loader.dispose()


def _count_nodes(node: yaml.Node, seen: dict[int, int], total: list[int]) -> int:
    """The node count once aliases are expanded (memoised: shared nodes are counted by
    reference, in time linear in the document)."""
    key = id(node)
    if key in seen:
        size = seen[key]
    else:
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(_count_nodes(child, seen, total) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(
                _count_nodes(k, seen, total) + _count_nodes(v, seen, total) for k, v in node.value
            )
        seen[key] = size
    total[0] += 1
    if size > MAX_YAML_NODES or total[0] > MAX_YAML_NODES:
        raise FileProblem(f"YAML aliases expand it past {MAX_YAML_NODES} nodes")
    return size


def read_examples(path: Path, categories: Collection[str]) -> list[tuple[str, str]]:
    """Labeled prompts: UTF-8 TSV with a header, `category<TAB>prompt`; every category must
    be configured. FileProblem says what is wrong (and on which line)."""
    try:
        text = read_bounded(path, MAX_EXAMPLES_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"not UTF-8 (byte {exc.start})") from None
    rows: list[tuple[str, str]] = []
    unknown: dict[str, int] = {}
    for n, line in enumerate(text.splitlines()[1:], 2):
        category, _, prompt = line.partition("\t")
        category, prompt = category.strip(), prompt.strip()
        if not prompt:
            continue
        if category not in categories:
            unknown.setdefault(category, n)
        rows.append((category, prompt))
    if unknown:
        listed = ", ".join(f"{c!r} (line {n})" for c, n in sorted(unknown.items()))
        raise FileProblem(f"categories that are not configured: {listed}")
    return rows

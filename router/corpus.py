"""The router's labelled prompt corpus: one TSV row per prompt, each naming its source."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus.tsv"
COLUMNS = ("source", "category", "harmful", "label", "parts", "text")
UNLABELLED = "?"  # a row with no usable category: it trains the high-risk head only
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_UNESCAPE = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled prompt. `parts` names every source its text came from (composites)."""

    source: str
    category: str
    harmful: bool
    text: str
    label: str = ""
    parts: tuple[str, ...] = ()

    @property
    def origins(self) -> tuple[str, ...]:
        return self.parts or (self.source,)


def escape(text: str) -> str:
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(0)), text)


def format_rows(examples: Iterable[Example]) -> str:
    lines = ["\t".join(COLUMNS)]
    for e in examples:
        fields = (e.source, e.category, str(int(e.harmful)), e.label, "+".join(e.origins), e.text)
        lines.append("\t".join(escape(f) for f in fields))
    return "\n".join(lines) + "\n"


def parse_rows(text: str) -> list[Example]:
    lines = text.rstrip("\n").split("\n")  # not splitlines: texts keep \x0c, \u2028
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ValueError(f"corpus header must be {COLUMNS}")
    out = []
    for line in lines[1:]:
        source, category, harmful, label, parts, body = (unescape(f) for f in line.split("\t"))
        origins = tuple(parts.split("+")) if parts else (source,)
        kept = origins if origins != (source,) else ()
        out.append(Example(source, category, harmful == "1", body, label, kept))
    return out


def read(path: Path = CORPUS) -> list[Example]:
    return parse_rows(path.read_text(encoding="utf-8"))


def without(examples: Sequence[Example], source: str) -> list[Example]:
    """The examples with no part from `source` (for leave-one-source-out)."""
    return [e for e in examples if source not in e.origins]

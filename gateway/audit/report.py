"""Writes an audit's results: report.md, a self-contained report.html (plots as inline
SVG, no external assets), report.json for machines, pairs.jsonl (every pair, see
pair_rows), proposed-config.yaml, and the two plots as SVG files next to the Markdown."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.audit import pair_rows
from gateway.audit.plots import COLOURS, gap_plot, surface_judgment_plot
from monitors.audit import AuditResult, CategoryResult, proposed_config

EXCERPT_CHARS = 1200  # of each answer in the worst-pairs section


def write(
    out: Path, result: AuditResult, known_categories: Sequence[str], meta: Mapping[str, Any]
) -> list[Path]:
    """All report files into `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    snippet = proposed_config(result, known_categories)
    gap_svg, split_svg = gap_plot(result.categories), surface_judgment_plot(result)
    document = {**result.as_json(), "inputs": dict(meta), "proposed_config": snippet}
    files = {
        "report.json": json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        "pairs.jsonl": pair_rows.jsonl(result),
        "proposed-config.yaml": snippet,
        "gap.svg": gap_svg,
        "surface-vs-judgment.svg": split_svg,
        "report.md": markdown(result, snippet, meta),
        "report.html": page(result, snippet, meta, gap_svg, split_svg),
    }
    paths = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rows(result: AuditResult) -> list[list[str]]:
    rows = []
    for c in result.categories:
        s = c.snapshot
        gap = (
            f"{s.gap.value:.3f} [{s.gap.lower:.3f}, {s.gap.upper:.3f}]" if s.n >= 2 else "-"
        )  # fmt: skip
        rows.append([
            c.name, str(s.n), gap, f"{s.max_gap:g}",
            _num(s.surface.value if s.n else None), _num(c.judgment),
            _num(s.illusion.value if s.n else None),
            _num(s.advantage.value if s.advantage.n else None),
            _num(s.noise_floor.value if s.noise_n else None), c.verdict.value,
        ])  # fmt: skip
    return rows


HEADER = [
    "category", "n", "gap [95% CI]", "max_gap", "surface", "judgment", "illusion rate",
    "advantage", "noise floor", "verdict",
]  # fmt: skip


def markdown(result: AuditResult, snippet: str, meta: Mapping[str, Any]) -> str:
    lines = ["# distillgate audit", ""]
    lines += [f"**{line}**" if i == 0 else line for i, line in enumerate(result.headline)]
    lines += [
        "",
        f"{result.n} pairs; overall divergence {result.divergence:.3f}, surface similarity "
        f"{result.surface:.3f}, judgment agreement {_num(result.judgment)}.",
        "",
        *(f"- {k}: {v}" for k, v in meta.items()),
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(r) + " |" for r in _rows(result)),
        "",
        "Gap: mean divergence (1 - weighted agreement) minus the noise floor when measured; "
        "surface: mean surface agreement; judgment: mean of the lowest judgment agreement per "
        "pair where one applies; illusion rate: pairs that look alike (surface ≥ "
        f"{result.settings.illusion_surface:g}) but disagree in judgment; advantage: "
        "2 * accuracy - 1 of a discriminator telling the teacher's answer apart.",
        "",
        "![gap per category](gap.svg)",
        "",
        "![surface vs judgment](surface-vs-judgment.svg)",
        "",
        "## Proposed config",
        "",
        "```yaml",
        snippet.rstrip(),
        "```",
        "",
        "## Worst pairs per category",
    ]
    for c in result.categories:
        lines += ["", f"### {c.name} — {c.verdict.value}", "", c.why]
        for s in c.worst:
            disagreed = ", ".join(f"{n} {v:.2f}" for n, v in s.disagreements()) or "nothing"
            lines += [
                "",
                f"**{s.pair.id} turn {s.pair.turn + 1}** — divergence "
                f"{s.scores.divergence:.3f}; disagreed: {disagreed}",
                "",
                *_quote("request", s.pair.request),
                *_quote("student", s.pair.student),
                *_quote("teacher", s.pair.teacher),
            ]
    return "\n".join(lines) + "\n"


def _quote(who: str, text: str) -> list[str]:
    body = _excerpt(text).splitlines() or [""]
    return [f"> **{who}:** {body[0]}", *(f"> {line}" for line in body[1:]), ""]


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + " […]"


def page(
    result: AuditResult, snippet: str, meta: Mapping[str, Any], gap_svg: str, split_svg: str
) -> str:
    e = html.escape
    head = "".join(
        f"<p class='{'first' if i == 0 else ''}'>{e(line)}</p>"
        for i, line in enumerate(result.headline)
    )
    table = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADER) + "</tr>"
    for c, row in zip(result.categories, _rows(result), strict=True):
        cells = "".join(f"<td>{e(v)}</td>" for v in row[:-1])
        table += f"<tr>{cells}<td style='color:{COLOURS[c.verdict]}'>{e(row[-1])}</td></tr>"
    inputs = "".join(f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in meta.items())
    worst = "".join(_worst_html(c) for c in result.categories)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>distillgate audit</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
.first {{ font-weight: bold; font-size: 1.1em; }}
.pair td {{ width: 50%; }} pre {{ white-space: pre-wrap; margin: 0; font-size: 12px; }}
</style></head><body>
<h1>distillgate audit</h1>
{head}
<p>{result.n} pairs; overall divergence {result.divergence:.3f}, surface similarity
{result.surface:.3f}, judgment agreement {_num(result.judgment)}.</p>
<ul>{inputs}</ul>
<table>{table}</table>
<h2>Gap per category</h2>
{gap_svg}
<h2>Surface similarity vs judgment agreement</h2>
{split_svg}
<h2>Proposed config</h2>
<pre>{e(snippet)}</pre>
<h2>Worst pairs per category</h2>
{worst}
</body></html>
"""


def _worst_html(c: CategoryResult) -> str:
    e = html.escape
    parts = [f"<h3>{e(c.name)} — {e(c.verdict.value)}</h3><p>{e(c.why)}</p>"]
    for s in c.worst:
        disagreed = ", ".join(f"{n} {v:.2f}" for n, v in s.disagreements()) or "nothing"
        parts.append(
            f"<p><b>{e(s.pair.id)} turn {s.pair.turn + 1}</b>: divergence "
            f"{s.scores.divergence:.3f}; disagreed: {e(disagreed)}</p>"
            f"<p><i>{e(_excerpt(s.pair.request))}</i></p>"
            "<table class='pair'><tr><th>student</th><th>teacher</th></tr>"
            f"<tr><td><pre>{e(_excerpt(s.pair.student))}</pre></td>"
            f"<td><pre>{e(_excerpt(s.pair.teacher))}</pre></td></tr></table>"
        )
    return "".join(parts)

"""The audit report's plots: inline SVG, no plotting library."""

from __future__ import annotations

import html
from collections.abc import Sequence

from monitors.audit import AuditResult, CategoryResult, Verdict

COLOURS = {Verdict.SAFE: "#2e7d32", Verdict.TEACHER: "#c62828", Verdict.INSUFFICIENT: "#9e9e9e"}


def gap_plot(categories: Sequence[CategoryResult]) -> str:
    """Per category: the gap with its interval, and the category's max_gap as a mark."""
    rows = [c for c in categories if c.snapshot.n >= 2]
    width, left, row_h, top = 640, 120, 26, 24
    height = top + row_h * len(rows) + 30
    top_value = max([0.5, *(min(1.0, c.snapshot.gap.upper) for c in rows),
                     *(c.snapshot.max_gap for c in rows)])  # fmt: skip
    scale = (width - left - 20) / top_value

    def x(v: float) -> float:
        return left + max(0.0, min(top_value, v)) * scale

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<text x="{left}" y="14">gap with 95% interval; | = max_gap</text>',
    ]
    for i, c in enumerate(rows):
        y = top + i * row_h + row_h / 2
        s, colour = c.snapshot, COLOURS[c.verdict]
        parts += [
            f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{html.escape(c.name)}</text>',
            f'<line x1="{x(s.gap.lower):.1f}" y1="{y}" x2="{x(s.gap.upper):.1f}" y2="{y}" '
            f'stroke="{colour}" stroke-width="2"/>',
            f'<circle cx="{x(s.gap.value):.1f}" cy="{y}" r="4" fill="{colour}"/>',
            f'<line x1="{x(s.max_gap):.1f}" y1="{y - 9}" x2="{x(s.max_gap):.1f}" y2="{y + 9}" '
            'stroke="#000" stroke-width="2"/>',
        ]
    axis_y = top + row_h * len(rows) + 6
    parts.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{x(top_value):.1f}" y2="{axis_y}" stroke="#888"/>'
    )
    tick = 0.0
    while tick <= top_value + 1e-9:
        parts.append(
            f'<text x="{x(tick):.1f}" y="{axis_y + 16}" text-anchor="middle">{tick:.1f}</text>'
        )
        tick += 0.1
    parts.append("</svg>")
    return "\n".join(parts)


def surface_judgment_plot(result: AuditResult) -> str:
    """Each category at (surface similarity, judgment agreement); the overall point as a
    square. The shaded corner — looks alike, judges differently — is the illusion."""
    size, pad = 420, 40
    inner = size - 2 * pad

    def px(v: float) -> float:
        return pad + v * inner

    def py(v: float) -> float:
        return size - pad - v * inner

    cut = result.settings.illusion_surface
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" font-family="sans-serif" font-size="11">',
        f'<rect x="{px(cut):.1f}" y="{py(0.5):.1f}" width="{px(1) - px(cut):.1f}" '
        f'height="{py(0) - py(0.5):.1f}" fill="#fdecea"/>',
        f'<text x="{px(1) - 4:.1f}" y="{py(0) - 6:.1f}" text-anchor="end" fill="#c62828">'
        "illusion: sounds alike, judges differently</text>",
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#888"/>',
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">surface similarity</text>',
        f'<text x="12" y="{size / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {size / 2})">judgment agreement</text>',
    ]
    for v in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{px(v):.1f}" y="{size - pad + 14}" text-anchor="middle">{v:g}</text>'
        )
        parts.append(f'<text x="{pad - 6}" y="{py(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    placed: list[tuple[float, float]] = []
    for c in result.categories:
        if c.judgment is None or not c.snapshot.n:
            continue
        cx, cy = px(c.snapshot.surface.value), py(c.judgment)
        ly = cy + 4
        while any(abs(ly - y) < 11 and abs(cx - x) < 70 for x, y in placed):
            ly += 11  # labels of close points go below each other
        placed.append((cx, ly))
        parts += [
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{COLOURS[c.verdict]}"/>',
            f'<text x="{cx + 7:.1f}" y="{ly:.1f}">{html.escape(c.name)}</text>',
        ]
    if result.judgment is not None:
        ox, oy = px(result.surface), py(result.judgment)
        parts += [
            f'<rect x="{ox - 5:.1f}" y="{oy - 5:.1f}" width="10" height="10" fill="#1565c0"/>',
            f'<text x="{ox - 8:.1f}" y="{oy + 4:.1f}" text-anchor="end" fill="#1565c0">all</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)

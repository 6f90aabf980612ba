"""The README's first command runs the demo: it must keep working."""

from __future__ import annotations

import asyncio
import io

from gateway.commands.demo import run_demo


def test_demo_serves_routes_measures_and_falls_back() -> None:
    out = io.StringIO()
    assert asyncio.run(run_demo(out, questions=12, concurrency=4)) == 0
    text = out.getvalue()
    assert "All MT-Bench first turns through the gateway (12 requests)" in text
    assert "The gap, measured by shadowing every request" in text
    assert "teacher/policy               violence" in text  # a risky prompt to the teacher
    assert "teacher/unreadable" in text  # the French one
    # every request the student would have served fell back (the rest went to the teacher)
    routed = text.split("(fallback)")[1]
    fallbacks = int(routed.split("fallbacks to the teacher: ")[1].split()[0])
    assert fallbacks >= 5 and f"reason=fallback: {fallbacks}" in text

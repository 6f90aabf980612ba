"""Memory the static router adds to a process: loading the shipped model, and refitting its
heads for a `routing.examples_file` (issue 16's budget: 150 MB added).

Each case runs in a fresh interpreter that first imports numpy (the baseline every gateway
process has); it prints resident memory (VmRSS) and the peak (VmHWM) after the case, both
as MB added to that process's own baseline measured just before. Linux only (/proc).

    .venv/bin/python bench/router_memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASE = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import numpy

def mem():
    with open(f"/proc/{{os.getpid()}}/status") as f:
        d = dict(line.split(":", 1) for line in f)
    return int(d["VmRSS"].split()[0]) / 1024, int(d["VmHWM"].split()[0]) / 1024

base, _ = mem()
began = time.perf_counter()
from router import judgment
from router.corpus import Example
if {case!r} == "load":
    model = judgment.load()
else:
    extra = [
        Example("mine", "general", False, f"please reconcile invoice {{i}} against the ledger")
        for i in range(20)
    ]
    model = judgment.load(extra=extra)
rss, peak = mem()  # the model still held, as a gateway holds it
print(json.dumps({{"s": time.perf_counter() - began, "rss": rss - base, "peak": peak - base}}))
"""


def run(case: str) -> dict[str, float]:
    code = CASE.format(root=str(ROOT), case=case)
    env = {"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    print(f"{'case':<40} {'seconds':>8} {'added MB':>9} {'peak MB':>8}")
    for case, label in (("load", "load the shipped model"), ("refit", "refit with 20 examples")):
        r = run(case)
        print(f"{label:<40} {r['s']:>8.2f} {r['rss']:>9.0f} {r['peak']:>8.0f}")
    print("budget: 150 MB added")


if __name__ == "__main__":
    main()

"""Memory the static router adds to a process: loading the shipped model, and refitting its
heads for a `routing.examples_file` (issue 16's budget: 150 MB added).

Each case runs in a fresh interpreter (this file with `--case`) that has imported numpy
(the baseline every gateway process has) and nothing of the router; it prints resident
memory (VmRSS) and the peak (VmHWM) after the case, both as MB added to that process's own
baseline measured just before. Linux only (/proc).

    .venv/bin/python bench/router_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy  # noqa: F401  (in the baseline: every gateway process has it)

ROOT = Path(__file__).resolve().parent.parent
CASES = {"load": "load the shipped model", "refit": "refit with 20 examples"}


def memory_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    with open(f"/proc/{os.getpid()}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def case(name: str) -> dict[str, float]:
    """Run one case in this process; the router is imported only here, after the baseline."""
    base, _ = memory_mb()
    began = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from router import judgment
    from router.corpus import Example

    extra = [
        Example("mine", "general", False, f"please reconcile invoice {i} against the ledger")
        for i in range(20 if name == "refit" else 0)
    ]
    model = judgment.load(extra=extra)
    rss, peak = memory_mb()  # the model still held, as a gateway holds it
    del model
    return {"s": time.perf_counter() - began, "rss": rss - base, "peak": peak - base}


def run(name: str) -> dict[str, float]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--case", name],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--case", choices=sorted(CASES), help="run one case here (internal)")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(args.case)))
        return
    print(f"{'case':<40} {'seconds':>8} {'added MB':>9} {'peak MB':>8}")
    for name, label in CASES.items():
        r = run(name)
        print(f"{label:<40} {r['s']:>8.2f} {r['rss']:>9.0f} {r['peak']:>8.0f}")
    print("budget: 150 MB added")


if __name__ == "__main__":
    main()

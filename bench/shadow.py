"""Shadowing's cost to the live path, and how fast the scorers are.

Part 1: a fast student and a slow teacher (200 ms) as fake upstreams, and two gateways in
front of them: shadowing off, and shadowing every request (shadow_rate 1.0). The same
requests go through both, interleaved; the live p50/p99 ratio should stay near 1.0.
Part 2: pairs/s for each scorer on the real MT-Bench answers (gpt-4o vs llama-2-chat-7b).

    .venv/bin/python bench/shadow.py [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _procs import free_port, gateway_cmd, spawn, upstream_cmd

from monitors import semantic
from monitors.scorers import SCORERS, score_pair

DATA = Path(__file__).parent.parent / "gateway" / "data" / "mt_bench"
ROUTING = "routing: {categories: {general: {risk: low, route: student, shadow_rate: RATE}}}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def gateways() -> Iterator[tuple[str, str]]:
    s_port, t_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        stack.enter_context(spawn(upstream_cmd(s_port), s_port, "/v1/models"))
        slow = upstream_cmd(t_port, "Hello from the teacher.", 0.2, "teacher")
        stack.enter_context(spawn(slow, t_port, "/v1/models"))
        urls = []
        for name, rate in (("off", "0.0"), ("on", "1.0")):
            cfg = Path(tmp) / f"{name}.yaml"
            cfg.write_text(
                "models:\n  assistant:\n"
                f"    student: {{base_url: 'http://127.0.0.1:{s_port}/v1', model: student}}\n"
                f"    teacher: {{base_url: 'http://127.0.0.1:{t_port}/v1', model: teacher}}\n"
                "shadow: {workers: 4, max_teacher_rps: 1000, queue_size: 10000}\n"
                + ROUTING.replace("RATE", rate)
                + "\n"
            )
            port = free_port()
            stack.enter_context(spawn(gateway_cmd(cfg, port), port))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls[0], urls[1]


async def live_path(requests: int) -> None:
    with gateways() as (off, on):
        took: dict[str, list[float]] = {"off": [], "on": []}
        body = {"model": "assistant", "messages": [{"role": "user", "content": "Say hello."}]}
        async with httpx.AsyncClient(timeout=30) as client:
            for i in range(requests + 100):
                for name, url in (("off", off), ("on", on)):
                    t0 = time.perf_counter()
                    response = await client.post(url + "/v1/chat/completions", json=body)
                    if response.status_code != 200:
                        raise RuntimeError(f"shadow {name}: HTTP {response.status_code}")
                    if i >= 100:
                        took[name].append(time.perf_counter() - t0)
            metrics = (await client.get(on + "/metrics")).text
    completed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("distillgate_shadow_completed_total")
    )
    print(f"live path, {requests} sequential requests each, interleaved; teacher takes 200 ms")
    print(f"{'shadow':<8} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ("off", "on"):
        print(f"{name:<8} {1000 * pct(took[name], 0.5):>8.2f} {1000 * pct(took[name], 0.99):>8.2f}")
    p50 = pct(took["on"], 0.5) / pct(took["off"], 0.5)
    p99 = pct(took["on"], 0.99) / pct(took["off"], 0.99)
    print(f"ratio on/off: p50 {p50:.2f}, p99 {p99:.2f}; pairs scored meanwhile: {completed:.0f}")


def scorer_speed() -> None:
    def turns(name: str) -> dict[int, list[str]]:
        rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
        return {r["question_id"]: r["choices"][0]["turns"] for r in rows}

    teacher, student = turns("gpt-4o.jsonl"), turns("llama-2-chat7b.jsonl")
    questions = [json.loads(line) for line in (DATA / "question.jsonl").read_text().splitlines()]
    pairs = [
        (student[q["question_id"]][t], teacher[q["question_id"]][t], q["turns"][t])
        for q in questions
        for t in (0, 1)
    ]
    print(f"\nscorer throughput on {len(pairs)} real MT-Bench pairs (pairs/s)")
    for name, scorer in SCORERS.items():
        t0 = time.perf_counter()
        for a, b, r in pairs * 5:
            scorer.fn(a, b, r)
        print(f"{name:<14} {5 * len(pairs) / (time.perf_counter() - t0):>10.0f}")
    t0 = time.perf_counter()
    for a, b, r in pairs * 5:
        score_pair(a, b, r)
    print(f"{'all (pair)':<14} {5 * len(pairs) / (time.perf_counter() - t0):>10.0f}")
    if semantic.installed():  # the optional MiniLM scorer: one pass, it is slow
        model = semantic.load()
        t0 = time.perf_counter()
        for a, b, r in pairs:
            semantic.similarity(model, a, b, r)
        print(f"{'semantic':<14} {len(pairs) / (time.perf_counter() - t0):>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(live_path(args.requests))
    scorer_speed()


if __name__ == "__main__":
    main()

"""Soak: minutes of mixed traffic, up to 1,000 concurrent streams; resources must stay flat.

A slowly streaming fake student and teacher (20 tokens, 250 ms apart: 5 s a stream),
`distillgate serve` with shadowing on, and this load generator: 70% streams, 30% JSON,
1 in 20 streams dropped by the client after its first chunk. Workers ramp from 100 to
`--concurrency` over the first minute. Every few seconds the gateway's RSS, open file
descriptors and asyncio task count are read from its /metrics. After warm-up, the slope of
each series (least squares, per minute) should be about zero.

    .venv/bin/python bench/soak.py [--minutes 10] [--concurrency 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parent))
from _procs import free_port, gateway_cmd, spawn, upstream_cmd

ANSWER = " ".join(f"tok{i}" for i in range(20))
SERIES = ("process_resident_memory_bytes", "process_open_fds", "distillgate_event_loop_tasks")


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / var if var else 0.0


async def sample(url: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(url + "/metrics")).text
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in SERIES:
                values[s.name] = s.value
    return values


async def run(minutes: float, concurrency: int) -> None:
    s_port, t_port, g_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as es:
        for port, name in ((s_port, "student"), (t_port, "teacher")):
            cmd = upstream_cmd(port, ANSWER, 0.05, name, token_delay_s=0.25)
            es.enter_context(spawn(cmd, port, "/v1/models"))
        cfg = Path(tmp) / "soak.yaml"
        cfg.write_text(
            "models:\n  assistant:\n"
            # a pool as large as the load: 1,000 streams of 5 s each hold 1,000 connections
            f"    student: {{base_url: 'http://127.0.0.1:{s_port}/v1', model: student, "
            "max_connections: 1200, timeout_s: 60}\n"
            f"    teacher: {{base_url: 'http://127.0.0.1:{t_port}/v1', model: teacher}}\n"
            "shadow: {max_teacher_rps: 20, queue_size: 500}\n"
            "routing: {replace_defaults: true,\n"
            "          categories: {general: {risk: low, route: student, shadow_rate: 0.2}}}\n"
        )
        es.enter_context(spawn(gateway_cmd(cfg, g_port), g_port))
        url = f"http://127.0.0.1:{g_port}"
        await drive(url, minutes * 60, concurrency)


async def drive(url: str, seconds: float, concurrency: int) -> None:
    began = time.monotonic()
    stop = began + seconds
    counts = {"ok": 0, "failed": 0, "dropped": 0}

    async def worker(delay: float) -> None:
        await asyncio.sleep(delay)
        rng = random.Random()
        limits = httpx.Limits(max_connections=2)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            while time.monotonic() < stop:
                prompt = f"Tell me a story {rng.random()}"
                body: dict[str, object] = {
                    "model": "assistant",
                    "messages": [{"role": "user", "content": prompt}],
                }
                stream = rng.random() < 0.7
                drop = stream and rng.random() < 0.05  # 1 stream in 20 is abandoned
                try:
                    if stream:
                        body["stream"] = True
                        async with client.stream(
                            "POST", url + "/v1/chat/completions", json=body
                        ) as r:
                            async for _ in r.aiter_raw():
                                if drop:
                                    counts["dropped"] += 1
                                    break  # the client goes away mid-stream
                    else:
                        r = await client.post(url + "/v1/chat/completions", json=body)
                    counts["ok" if r.status_code == 200 else "failed"] += 1
                except httpx.HTTPError:
                    counts["failed"] += 1

    # Ramp from 100 workers to `concurrency` over the first minute.
    delays = [
        0.0 if i < 100 else 60.0 * (i - 100) / max(1, concurrency - 100) for i in range(concurrency)
    ]
    workers = [asyncio.create_task(worker(d)) for d in delays]
    series: dict[str, list[tuple[float, float]]] = {name: [] for name in SERIES}
    print(
        f"{'t s':>6} {'rss MB':>8} {'fds':>6} {'tasks':>6} {'ok':>8} {'failed':>7} {'dropped':>8}"
    )
    while time.monotonic() < stop:
        await asyncio.sleep(5)
        t = time.monotonic() - began
        values = await sample(url)
        for name in SERIES:
            series[name].append((t, values.get(name, 0.0)))
        rss, fds, tasks = (values.get(name, 0.0) for name in SERIES)
        line = f"{t:>6.0f} {rss / 2**20:>8.1f} {fds:>6.0f} {tasks:>6.0f} "
        print(line + f"{counts['ok']:>8} {counts['failed']:>7} {counts['dropped']:>8}", flush=True)
    await asyncio.gather(*workers)
    warm = 120.0 if seconds > 240 else seconds / 2
    print(f"\nslopes after {warm:.0f} s of warm-up (per minute):")
    for name in SERIES:
        points = [(t, v) for t, v in series[name] if t >= warm]
        scale = 2**20 if name == SERIES[0] else 1
        unit = " MB" if name == SERIES[0] else ""
        slope = slope_per_minute(points) / scale
        print(f"  {name}: {slope:+.3f}{unit}/min over {len(points)} samples")
    print(f"requests: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.minutes, args.concurrency))


if __name__ == "__main__":
    main()

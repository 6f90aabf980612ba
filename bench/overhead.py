"""What the gateway adds to a call, measured side by side with the direct call in one run.

Three processes on loopback: a zero-latency vLLM-wire fake upstream, `distillgate serve` in
front of it, and this load generator. Direct and gateway requests are interleaved so drift
on a shared machine hits both alike. Prints p50/p99 latency and added latency (ms), added
time to first chunk for streaming, and throughput at concurrency 64 as a ratio of direct.

    .venv/bin/python bench/overhead.py [--requests 2000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _procs import free_port, gateway_cmd, spawn, upstream_cmd

CHAT: dict[str, object] = {
    "model": "assistant",
    "messages": [{"role": "user", "content": "Say hello."}],
}
STREAM: dict[str, object] = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}


def config_text(upstream: str) -> str:
    return f"""
models:
  assistant:
    student: {{base_url: "{upstream}/v1", model: student, clients: 4}}
    teacher: {{base_url: "{upstream}/v1", model: student, clients: 4}}
"""


@contextmanager
def stack() -> Iterator[tuple[str, str]]:
    """(direct URL, gateway URL); the direct path renames the model like the gateway does."""
    up_port, gw_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.yaml"
        cfg.write_text(config_text(f"http://127.0.0.1:{up_port}"))
        with spawn(upstream_cmd(up_port), up_port), spawn(gateway_cmd(cfg, gw_port), gw_port):
            yield f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{gw_port}"


async def one(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> tuple[float, float]:
    """(seconds to first body chunk, seconds to the end) for one request."""
    began = time.perf_counter()
    first = 0.0
    async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
        async for _ in response.aiter_raw():
            if not first:
                first = time.perf_counter() - began
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
    return first, time.perf_counter() - began


def direct_body(body: dict[str, object]) -> dict[str, object]:
    return {**body, "model": "student"}


async def sequential(
    direct: str, gateway: str, n: int, body: dict[str, object]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "direct": [],
        "gateway": [],
        "direct_ttft": [],
        "gateway_ttft": [],
    }
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + 200):  # the first 200 are warm-up
            for name, url, b in (("direct", direct, direct_body(body)), ("gateway", gateway, body)):
                ttft, total = await one(client, url, b)
                if i >= 200:
                    out[name].append(total)
                    out[f"{name}_ttft"].append(ttft)
    return out


async def throughput(url: str, body: dict[str, object], concurrency: int, n: int) -> float:
    """Requests/s with `concurrency` workers, each with its own client (see PERFORMANCE.md)."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        async with httpx.AsyncClient(timeout=60) as client:
            while remaining > 0:
                remaining -= 1
                await one(client, url, body)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - began)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(*cells: object) -> str:
    return " ".join(f"{c:>11.2f}" if isinstance(c, float) else f"{c!s:>11}" for c in cells)


async def latency_table(direct: str, gateway: str, requests: int) -> None:
    print(
        row("mode", "path", "p50 ms", "p99 ms", "added p50", "added p99", "ttft p50", "added ttft")
    )
    for mode, body in (("json", CHAT), ("stream", STREAM)):
        r = await sequential(direct, gateway, requests, body)
        base50, base99 = pct(r["direct"], 0.5), pct(r["direct"], 0.99)
        base_ttft = statistics.median(r["direct_ttft"])
        for path in ("direct", "gateway"):
            p50, p99 = pct(r[path], 0.5), pct(r[path], 0.99)
            ttft = statistics.median(r[f"{path}_ttft"])
            ms = [1000 * v for v in (p50, p99, p50 - base50, p99 - base99, ttft, ttft - base_ttft)]
            print(row(mode, path, *ms))


async def throughput_table(direct: str, gateway: str, requests: int, concurrency: int) -> None:
    print(f"\nthroughput at concurrency {concurrency}")
    print(row("mode", "direct rps", "gateway rps", "ratio"))
    for mode, body in (("json", CHAT), ("stream", STREAM)):
        n = max(2000, requests)
        d = await throughput(direct, direct_body(body), concurrency, n)
        g = await throughput(gateway, body, concurrency, n)
        print(row(mode, round(d, 1), round(g, 1), round(g / d, 2)))


async def run(requests: int, concurrency: int) -> None:
    with stack() as (direct, gateway):
        when = time.strftime("%Y-%m-%d %H:%M")
        print(f"# distillgate overhead, {when}, {os.cpu_count()} cores, {requests} sequential")
        print("# requests per path and mode (interleaved, after 200 warm-up rounds)")
        await latency_table(direct, gateway, requests)
        await throughput_table(direct, gateway, requests, concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency))


if __name__ == "__main__":
    main()

"""Replicas: throughput of 1 vs 2 gateway processes, memory vs Redis state, in one run;
and the Redis commands each request costs.

A zero-latency fake upstream (student and teacher), a redis-server of its own on a free
port, and `distillgate serve` processes on loopback. Load: `--requests` JSON chat requests
at `--concurrency`, round-robin over the gateways. Every request is sampled for shadowing
(shadow_rate 1.0, the worst case for Redis) or none (--shadow-rate 0). Redis commands are
counted from INFO commandstats; the background mirror (3 commands per refresh per process)
is measured idle first and subtracted.

    .venv/bin/python bench/replicas.py [--requests 3000] [--concurrency 32] [--shadow-rate 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import redis
from _procs import free_port, gateway_cmd, spawn, upstream_cmd

BODY = {"model": "assistant", "messages": [{"role": "user", "content": "Tell me about Paris."}]}


def config(upstream: str, backend: str, redis_url: str, shadow_rate: float) -> str:
    return f"""
models:
  assistant:
    student: {{base_url: "{upstream}/v1", model: student, clients: 4}}
    teacher: {{base_url: "{upstream}/v1", model: student, clients: 4}}
shadow: {{enabled: true, workers: 2, max_teacher_rps: 100000, noise_floor_rate: 0}}
state: {{backend: {backend}, url: "{redis_url}", key_prefix: bench{time.time_ns()}}}
routing:
  categories:
    general: {{risk: low, route: student, shadow_rate: {shadow_rate}}}
"""


@contextmanager
def redis_server() -> Iterator[tuple[str, redis.Redis]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is missing (bash .ci/setup installs it)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    try:
        yield f"redis://127.0.0.1:{port}/0", client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def commands(client: redis.Redis) -> tuple[int, int]:
    """(all commands so far but INFO, XADD commands so far)."""
    stats = client.info("commandstats")
    total = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
    return total, int(stats.get("cmdstat_xadd", {}).get("calls", 0))


async def load(urls: list[str], n: int, concurrency: int) -> float:
    remaining = n

    async def worker(i: int) -> None:
        nonlocal remaining
        async with httpx.AsyncClient(timeout=60) as client:
            while remaining > 0:
                remaining -= 1
                url = urls[(remaining + i) % len(urls)]
                r = await client.post(url + "/v1/chat/completions", json=BODY)
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: HTTP {r.status_code}")

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return n / (time.perf_counter() - began)


def scenario(
    upstream: str,
    backend: str,
    replicas: int,
    redis_url: str,
    r: redis.Redis,
    args: argparse.Namespace,
) -> tuple[float, float | None, float | None]:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        cfg = Path(tmp) / "gw.yaml"
        cfg.write_text(config(upstream, backend, redis_url, args.shadow_rate))
        urls = []
        for _ in range(replicas):
            port = free_port()
            stack.enter_context(spawn(gateway_cmd(cfg, port), port, quiet=True))
            urls.append(f"http://127.0.0.1:{port}")
        asyncio.run(load(urls, 200, 8))  # warm-up
        time.sleep(1.0)
        idle_began, (before, _) = time.perf_counter(), commands(r)
        time.sleep(2.0)
        idle_rate = (commands(r)[0] - before) / (time.perf_counter() - idle_began)
        began, (before, xadd_before) = time.perf_counter(), commands(r)
        rps = asyncio.run(load(urls, args.requests, args.concurrency))
        time.sleep(1.0)  # let the workers finish the jobs this load produced
        after, xadd_after = commands(r)
        spent = after - before - idle_rate * (time.perf_counter() - began)
        if backend == "memory":
            return rps, None, None
        return rps, (xadd_after - xadd_before) / args.requests, max(0.0, spent) / args.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--shadow-rate", type=float, default=1.0)
    args = parser.parse_args()
    up = free_port()
    with (
        spawn(upstream_cmd(up, served_model="student"), up, quiet=True),
        redis_server() as (url, r),
    ):
        upstream = f"http://127.0.0.1:{up}"
        print(f"{args.requests} requests, concurrency {args.concurrency}, shadow_rate "
              f"{args.shadow_rate}, zero-latency upstream; one machine for everything")  # fmt: skip
        print(f"{'backend':<8} {'gateways':>8} {'req/s':>8} {'vs memory x1':>12} "
              f"{'XADD/req':>9} {'all cmds/req':>13}")  # fmt: skip
        base = None
        for backend in ("memory", "redis"):
            for replicas in (1, 2):
                rps, xadd, every = scenario(upstream, backend, replicas, url, r, args)
                base = base or rps
                x = "-" if xadd is None else f"{xadd:.2f}"
                e = "-" if every is None else f"{every:.2f}"
                print(f"{backend:<8} {replicas:>8} {rps:>8.0f} {rps / base:>12.2f} {x:>9} {e:>13}")
        print("Round trips on the request path: 0 (the handler never awaits Redis; a sampled "
              "job's XADD is sent by a background task in pipelined batches). 'all cmds' "
              "also counts the workers' reads, acks and pair writes.")  # fmt: skip


if __name__ == "__main__":
    main()

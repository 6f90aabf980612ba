"""What the gateway adds to a call, measured side by side with the direct call and with a
bare relay in one run.

Four processes on loopback: a zero-latency vLLM-wire fake upstream, a bare relay in front
of it (Starlette + httpx, about 30 lines: the floor a Python gateway can reach here, see
PERFORMANCE.md), `distillgate serve` in front of it, and this load generator. Direct,
relay and gateway requests are interleaved so drift on a shared machine hits all alike.
Prints p50/p99 latency and added latency (ms), added time to first chunk for streaming,
the gateway's added p50 as a ratio of the bare relay's, and throughput at concurrency 64
as a ratio of direct. `--words LO HI` sends prompts of LO to HI words (the router reads
the whole prompt, so its cost grows with it).

    .venv/bin/python bench/overhead.py [--requests 2000] [--concurrency 64] [--words 150 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _procs import bare_relay_cmd, free_port, gateway_cmd, spawn, upstream_cmd

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


Paths = dict[str, str]  # path name -> base URL


@contextmanager
def stack() -> Iterator[Paths]:
    """Base URLs of the three paths; the direct path renames the model like the others do."""
    up_port, relay_port, gw_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.yaml"
        cfg.write_text(config_text(upstream))
        with (
            spawn(upstream_cmd(up_port), up_port),
            spawn(bare_relay_cmd(relay_port, upstream), relay_port, health="/"),
            spawn(gateway_cmd(cfg, gw_port), gw_port),
        ):
            yield {
                "direct": upstream,
                "relay": f"http://127.0.0.1:{relay_port}",
                "gateway": f"http://127.0.0.1:{gw_port}",
            }


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
    paths: Paths, n: int, bodies: list[dict[str, object]]
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(n + 200):  # the first 200 are warm-up
            body = bodies[i % len(bodies)]
            for name, url in paths.items():
                ttft, total = await one(
                    client, url, direct_body(body) if name == "direct" else body
                )
                if i >= 200:
                    out.setdefault(name, []).append(total)
                    out.setdefault(f"{name}_ttft", []).append(ttft)
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


def prompts(words: tuple[int, int] | None) -> list[str]:
    """The short default prompt, or 50 prompts of `words` length drawn from a fixed text."""
    if words is None:
        return ["Say hello."]
    rng = random.Random(7)
    vocabulary = (__doc__ or "").split()
    return [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(*words))) for _ in range(50)]


def bodies_of(texts: list[str], stream: bool) -> list[dict[str, object]]:
    base = STREAM if stream else CHAT
    return [{**base, "messages": [{"role": "user", "content": t}]} for t in texts]


async def latency_table(paths: Paths, requests: int, texts: list[str]) -> None:
    print(
        row("mode", "path", "p50 ms", "p99 ms", "added p50", "added p99", "ttft p50", "added ttft")
    )
    for mode in ("json", "stream"):
        r = await sequential(paths, requests, bodies_of(texts, mode == "stream"))
        base50, base99 = pct(r["direct"], 0.5), pct(r["direct"], 0.99)
        base_ttft = statistics.median(r["direct_ttft"])
        added: dict[str, float] = {}
        for path in paths:
            p50, p99 = pct(r[path], 0.5), pct(r[path], 0.99)
            ttft = statistics.median(r[f"{path}_ttft"])
            added[path] = p50 - base50
            ms = [1000 * v for v in (p50, p99, p50 - base50, p99 - base99, ttft, ttft - base_ttft)]
            print(row(mode, path, *ms))
        ratio = added["gateway"] / added["relay"] if added["relay"] > 0 else float("nan")
        print(f"{mode}: gateway added p50 / bare relay added p50 = {ratio:.2f}")


async def throughput_table(paths: Paths, requests: int, concurrency: int, text: str) -> None:
    print(f"\nthroughput at concurrency {concurrency}")
    print(row("mode", "direct rps", "relay rps", "gateway rps", "gw/direct"))
    for mode in ("json", "stream"):
        body = bodies_of([text], mode == "stream")[0]
        n = max(2000, requests)
        d = await throughput(paths["direct"], direct_body(body), concurrency, n)
        r = await throughput(paths["relay"], body, concurrency, n)
        g = await throughput(paths["gateway"], body, concurrency, n)
        print(row(mode, round(d, 1), round(r, 1), round(g, 1), round(g / d, 2)))


async def run(requests: int, concurrency: int, words: tuple[int, int] | None) -> None:
    texts = prompts(words)
    with stack() as paths:
        when = time.strftime("%Y-%m-%d %H:%M")
        print(f"# distillgate overhead, {when}, {os.cpu_count()} cores, {requests} sequential")
        size = "short prompt" if words is None else f"prompts of {words[0]}-{words[1]} words"
        print(f"# {size}; requests per path and mode interleaved, after 200 warm-up rounds")
        await latency_table(paths, requests, texts)
        await throughput_table(paths, requests, concurrency, texts[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--words", type=int, nargs=2, metavar=("LO", "HI"))
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency, tuple(args.words) if args.words else None))


if __name__ == "__main__":
    main()

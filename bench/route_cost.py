"""The router's cost: decide() latency on real prompts, and the gateway with routing on vs off.

Part 1 times classification plus the decision in process, over the MT-Bench turns and
XSTest prompts shipped in the repository, repeated to a few thousand calls.
Part 2 starts a zero-latency fake upstream and two gateways in front of it, one with
routing on (the shipped defaults) and one with `routing.enabled: false`, and sends the
same real prompts through both, interleaved, after a warm-up.

    .venv/bin/python bench/route_cost.py [--calls 5000] [--requests 1000]
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

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from _procs import free_port, gateway_cmd, spawn, upstream_cmd  # noqa: E402

from gateway.audit import prompt_files  # noqa: E402
from gateway.config import router_build  # noqa: E402
from gateway.config.load import default_routing  # noqa: E402
from gateway.config.settings import RoutingSettings  # noqa: E402
from router.policy import decide  # noqa: E402


def real_prompts() -> list[str]:
    questions = ROOT / "gateway" / "data" / "mt_bench" / "question.jsonl"
    turns = [t for line in questions.read_text().splitlines() for t in json.loads(line)["turns"]]
    xstest = prompt_files.read(ROOT / "tests" / "data" / "xstest" / "xstest_prompts.csv")
    return turns + [r.text for r in xstest]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_decide(prompts: list[str], calls: int) -> None:
    routing = RoutingSettings.model_validate(default_routing())
    began = time.perf_counter()
    parts = router_build.build(routing)
    print(f"classifier training at start-up: {time.perf_counter() - began:.2f} s")
    for p in prompts[:200]:  # warm-up
        decide(parts.classifier.classify(p), parts.policy, {})
    took = []
    for i in range(calls):
        text = prompts[i % len(prompts)]
        t0 = time.perf_counter()
        decide(parts.classifier.classify(text), parts.policy, {})
        took.append(time.perf_counter() - t0)
    us = [1e6 * t for t in took]
    print(f"classify+decide over {calls} calls on {len(prompts)} real prompts:")
    print(f"  p50 {pct(us, 0.5):.0f} us, p99 {pct(us, 0.99):.0f} us, max {max(us):.0f} us")


@contextmanager
def gateways() -> Iterator[tuple[str, str]]:
    up = free_port()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        stack.enter_context(spawn(upstream_cmd(up), up))
        urls = []
        off = "routing: {enabled: false, categories: {general: {risk: low, route: student}}}"
        for name, routing in (("on", ""), ("off", off)):
            cfg = Path(tmp) / f"{name}.yaml"
            cfg.write_text(
                "models:\n  assistant:\n"
                f"    student: {{base_url: 'http://127.0.0.1:{up}/v1', model: student}}\n"
                f"    teacher: {{base_url: 'http://127.0.0.1:{up}/v1', model: student}}\n" + routing
            )
            port = free_port()
            stack.enter_context(spawn(gateway_cmd(cfg, port), port))
            urls.append(f"http://127.0.0.1:{port}")
        yield urls[0], urls[1]


async def bench_gateway(prompts: list[str], requests: int) -> None:
    with gateways() as (on, off):
        took: dict[str, list[float]] = {"on": [], "off": []}
        async with httpx.AsyncClient(timeout=30) as client:
            for i in range(requests + 200):
                message = {"role": "user", "content": prompts[i % len(prompts)]}
                body = {"model": "assistant", "messages": [message]}
                for name, url in (("on", on), ("off", off)):
                    t0 = time.perf_counter()
                    response = await client.post(url + "/v1/chat/completions", json=body)
                    if response.status_code != 200:
                        raise RuntimeError(f"routing {name}: HTTP {response.status_code}")
                    if i >= 200:
                        took[name].append(time.perf_counter() - t0)
        print(f"\ngateway, {requests} sequential requests each, interleaved (ms)")
        print(f"{'routing':<8} {'p50':>7} {'p99':>7}")
        for name in ("off", "on"):
            p50, p99 = 1000 * pct(took[name], 0.5), 1000 * pct(took[name], 0.99)
            print(f"{name:<8} {p50:>7.2f} {p99:>7.2f}")
        added = 1000 * (pct(took["on"], 0.5) - pct(took["off"], 0.5))
        ratio = pct(took["on"], 0.5) / pct(took["off"], 0.5)
        print(f"routing adds {added:.2f} ms at p50 (ratio on/off {ratio:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    prompts = real_prompts()
    bench_decide(prompts, args.calls)
    asyncio.run(bench_gateway(prompts, args.requests))


if __name__ == "__main__":
    main()

"""What a guard model adds to a request: the gateway without a guard, and with a fake
Llama Guard 3 that answers after 0, 20 and 100 ms (`when: always`), side by side.

Processes on loopback: an instant vLLM-wire upstream, three fake guards, four gateways;
requests to the four interleaved, so drift hits all alike. Prints p50/p99 latency and what
each guard setting adds at p50 over the gateway without one.

    .venv/bin/python bench/guard.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _procs import free_port, gateway_cmd, spawn, upstream_cmd

_GUARD = """
import sys, uvicorn
from tests.fakes.guard import GuardReply, GuardScript, create_guard_app
script = GuardScript(default=GuardReply("safe", latency_s=float(sys.argv[2])))
uvicorn.run(create_guard_app("guard", script), host="127.0.0.1", port=int(sys.argv[1]),
            log_level="warning", access_log=False)
"""
BODY = {"model": "assistant", "messages": [{"role": "user", "content": "Say hello."}]}


def config(upstream: str, guard: str | None) -> str:
    text = f"""
models:
  assistant:
    student: {{base_url: "{upstream}/v1", model: student}}
    teacher: {{base_url: "{upstream}/v1", model: student}}
shadow: {{enabled: false}}
"""
    if guard is not None:
        text += (
            f"routing: {{guard: {{base_url: '{guard}/v1', model: guard, when: always, "
            "timeout_ms: 1000}}\n"
        )
    return text


async def run(requests: int) -> None:
    up = free_port()
    paths: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = str(Path(__file__).parent.parent)
        stack.enter_context(spawn(upstream_cmd(up), up))
        upstream = f"http://127.0.0.1:{up}"
        for name, latency in (("off", None), ("guard 0 ms", 0.0), ("guard 20 ms", 0.02),
                              ("guard 100 ms", 0.1)):  # fmt: skip
            guard = None
            if latency is not None:
                port = free_port()
                cmd = [sys.executable, "-c", _GUARD, str(port), str(latency)]
                stack.enter_context(spawn(cmd, port, health="/v1/models", cwd=root))
                guard = f"http://127.0.0.1:{port}"
            cfg = Path(tmp) / f"{len(paths)}.yaml"
            cfg.write_text(config(upstream, guard))
            port = free_port()
            stack.enter_context(spawn(gateway_cmd(cfg, port), port))
            paths[name] = f"http://127.0.0.1:{port}"
        times: dict[str, list[float]] = {name: [] for name in paths}
        async with httpx.AsyncClient(timeout=30) as client:
            for i in range(requests + 50):
                for name, url in paths.items():
                    began = time.perf_counter()
                    response = await client.post(url + "/v1/chat/completions", json=BODY)
                    response.raise_for_status()
                    if i >= 50:
                        times[name].append(time.perf_counter() - began)
    base = statistics.median(times["off"])
    print(f"# guard overhead, {time.strftime('%Y-%m-%d %H:%M')}, {requests} requests each")
    print(f"{'path':<14} {'p50 ms':>8} {'p99 ms':>8} {'added p50 ms':>13}")
    for name, values in times.items():
        ordered = sorted(values)
        p50, p99 = statistics.median(values), ordered[int(0.99 * (len(ordered) - 1))]
        print(f"{name:<14} {1000 * p50:>8.2f} {1000 * p99:>8.2f} {1000 * (p50 - base):>13.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.requests))


if __name__ == "__main__":
    main()

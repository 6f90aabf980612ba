"""Drives distillgate in front of real vLLM servers (bench/gpu/run.sh) with the openai SDK.

Measures, with the same prompts: direct to the student vs through the gateway (shadowing
off, at 10% and at 100%) at concurrency 1, 16 and 64 — latency p50/p99, time to first
chunk, requests/s. Then checks on the real server what the fake only imitates: chunks
relayed as they come, logprob escalation (JSON) and the commit window (stream) in the
`code` category, fallback while the student is killed, and /metrics of all three. Writes
results.json and metrics to --out. Also runs against the fake upstreams (for testing).

    python bench/gpu/drive.py --student URL --gateway-off URL --gateway-10 URL \
        --gateway-100 URL --student-metrics URL --teacher-metrics URL --out DIR \
        [--kill-student-pid PID] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import openai

PROMPT = "Write a short story about a lighthouse keeper."
CODE_PROMPT = "Write a python function that reverses a string."


async def one(client: openai.AsyncOpenAI, model: str, prompt: str) -> tuple[float, float, int]:
    """(time to first chunk, total time, chunks) for one streamed request."""
    began = time.perf_counter()
    first, chunks = 0.0, 0
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=128,
        stream=True,
    )
    async for _ in stream:
        chunks += 1
        if not first:
            first = time.perf_counter() - began
    return first, time.perf_counter() - began, chunks


async def load(url: str, model: str, concurrency: int, seconds: float) -> dict[str, float]:
    samples: list[tuple[float, float, int]] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=120)
        async with client:
            while time.perf_counter() < deadline:
                try:
                    samples.append(await one(client, model, PROMPT))
                except openai.OpenAIError:
                    errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    totals = sorted(s[1] for s in samples)
    return {
        "n": len(samples),
        "errors": errors,
        "p50_ms": 1000 * statistics.median(totals) if totals else float("nan"),
        "p99_ms": 1000 * totals[min(len(totals) - 1, int(0.99 * len(totals)))]
        if totals
        else float("nan"),
        "ttft_p50_ms": 1000 * statistics.median(s[0] for s in samples) if samples else float("nan"),
        "rps": len(samples) / elapsed,
        "chunks_p50": statistics.median(s[2] for s in samples) if samples else 0,
    }


async def checks(gateway: str) -> dict[str, Any]:
    client = openai.AsyncOpenAI(base_url=gateway + "/v1", api_key="x", max_retries=0, timeout=120)
    out: dict[str, Any] = {}
    async with client:
        raw = await client.chat.completions.with_raw_response.create(
            model="assistant", messages=[{"role": "user", "content": CODE_PROMPT}], max_tokens=32
        )
        out["json_escalation"] = dict(raw.headers.items()).get("x-distillgate-reason")
        raw_stream = await client.chat.completions.with_raw_response.create(
            model="assistant",
            messages=[{"role": "user", "content": CODE_PROMPT}],
            max_tokens=32,
            stream=True,
        )
        chunks = [c async for c in raw_stream.parse()]
        out["commit_window"] = {
            "route": raw_stream.headers.get("x-distillgate-route"),
            "reason": raw_stream.headers.get("x-distillgate-reason"),
            "chunks": len(chunks),
        }
        first, total, n = await one(client, "assistant", PROMPT)
        out["relay"] = {"first_chunk_ms": 1000 * first, "total_ms": 1000 * total, "chunks": n}
    return out


async def fallback(gateway: str, kill_pid: int | None, seconds: float) -> dict[str, Any]:
    """Requests keep flowing while the student server is killed after a third of the time."""
    reasons: dict[str, int] = {}
    failures = 0
    deadline = time.perf_counter() + seconds
    client = openai.AsyncOpenAI(base_url=gateway + "/v1", api_key="x", max_retries=0, timeout=120)
    killed_at = None

    async def killer() -> None:
        nonlocal killed_at
        await asyncio.sleep(seconds / 3)
        if kill_pid:
            os.kill(kill_pid, signal.SIGKILL)
            killed_at = time.perf_counter()

    task = asyncio.create_task(killer())
    async with client:
        while time.perf_counter() < deadline:
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model="assistant", messages=[{"role": "user", "content": PROMPT}], max_tokens=16
                )
                h = raw.headers
                key = f"{h.get('x-distillgate-route')}/{h.get('x-distillgate-reason')}"
                reasons[key] = reasons.get(key, 0) + 1
            except openai.OpenAIError:
                failures += 1
    await task
    return {
        "by_route_and_reason": reasons,
        "failures": failures,
        "student_killed": killed_at is not None,
    }


async def main_async(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    paths = {
        "direct": (args.student, args.student_model),
        "gateway_shadow_off": (args.gateway_off, "assistant"),
        "gateway_shadow_10": (args.gateway_10, "assistant"),
        "gateway_shadow_100": (args.gateway_100, "assistant"),
    }
    results: dict[str, Any] = {"load": {}}
    for concurrency in (1, 16, 64):
        for name, (url, model) in paths.items():
            row = await load(url, model, concurrency, args.seconds)
            results["load"][f"{name}@{concurrency}"] = row
            print(f"{name:<20} c={concurrency:<3} {json.dumps(row)}", flush=True)
    results["checks"] = await checks(args.gateway_off)
    print("checks:", json.dumps(results["checks"]), flush=True)
    metrics = {}
    scrape = {"gateway": args.gateway_off + "/metrics", "student": args.student_metrics}
    scrape["teacher"] = args.teacher_metrics
    async with httpx.AsyncClient(timeout=30) as http:
        for name, url in scrape.items():
            metrics[name] = (await http.get(url)).text
    results["fallback"] = await fallback(args.gateway_off, args.kill_student_pid, args.seconds)
    print("fallback:", json.dumps(results["fallback"]), flush=True)
    return results, metrics


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--student", required=True, help="the student server's base URL (no /v1)")
    parser.add_argument("--student-model", default="student")
    parser.add_argument("--gateway-off", required=True)
    parser.add_argument("--gateway-10", required=True)
    parser.add_argument("--gateway-100", required=True)
    parser.add_argument("--student-metrics", required=True)
    parser.add_argument("--teacher-metrics", required=True)
    parser.add_argument("--kill-student-pid", type=int)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    results, metrics = asyncio.run(main_async(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    for name, text in metrics.items():
        (out / f"metrics_{name}.txt").write_text(text)


if __name__ == "__main__":
    main()

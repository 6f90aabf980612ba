"""distillgate side by side with the LiteLLM proxy, against one fake upstream, in one run.

Paths: direct to the upstream; through `distillgate serve` (default routing, shadowing
off: bench/shadow.py measures shadowing); through the LiteLLM proxy (`litellm[proxy]`,
installed by this script into bench/.venv-litellm, one worker, simplest config).
Upstream modes: instant, and realistic streaming (20 ms to the first token, then 5 ms per
token, 200 tokens). Rows: sequential (paths interleaved) and concurrency 16, 64, 256 (each
worker with its own client); JSON and streaming. Columns: p50 and p99 added latency vs
direct, added time to first chunk, requests/s, CPU seconds per 1,000 requests, peak RSS.

    .venv/bin/python bench/compare.py [--seconds 4] [--write]   (--write: prepend to RESULTS.md)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).parent
sys.path.insert(0, str(BENCH))
from _procs import free_port, gateway_cmd, spawn, upstream_cmd  # noqa: E402

LITELLM_VENV = BENCH / ".venv-litellm"
TICKS = os.sysconf("SC_CLK_TCK")
LONG_ANSWER = " ".join(f"word{i}" for i in range(200))


@dataclass
class Path_:
    name: str
    url: str
    model: str
    pid: int | None
    headers: dict[str, str] | None = None


@dataclass
class Row:
    p50: float
    p99: float
    ttft: float
    rps: float
    cpu_per_1k: float | None
    rss_mb: float | None


def ensure_litellm() -> Path:
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        pip = [str(LITELLM_VENV / "bin" / "pip"), "install", "-q", "litellm[proxy]"]
        subprocess.run(pip, check=True)
    return exe


def tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / TICKS


def peak_rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@contextmanager
def stack(realistic: bool, litellm: Path) -> Iterator[list[Path_]]:
    up, gw, ll = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as es:
        answer = LONG_ANSWER if realistic else "Hello! How can I help you today?"
        cmd = upstream_cmd(
            up, answer, 0.02 if realistic else 0.0, token_delay_s=0.005 if realistic else 0.0
        )
        es.enter_context(spawn(cmd, up, "/v1/models"))
        base = f"http://127.0.0.1:{up}/v1"
        (Path(tmp) / "dg.yaml").write_text(
            f"models:\n  assistant:\n    student: {{base_url: '{base}', model: student}}\n"
            f"    teacher: {{base_url: '{base}', model: student}}\nshadow: {{enabled: false}}\n"
        )
        dg_proc = es.enter_context(spawn(gateway_cmd(Path(tmp) / "dg.yaml", gw), gw))
        (Path(tmp) / "ll.yaml").write_text(
            "model_list:\n  - model_name: assistant\n    litellm_params:\n"
            f"      model: openai/student\n      api_base: {base}\n      api_key: dummy\n"
        )
        # This LiteLLM refuses to start without a master key: the one setting added.
        key = "sk-bench-" + os.urandom(8).hex()
        env = {
            **os.environ,
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no attempt to fetch it from the internet
            "LITELLM_MASTER_KEY": key,
        }
        ll_cmd = [str(litellm), "--config", str(Path(tmp) / "ll.yaml"), "--port", str(ll),
                  "--host", "127.0.0.1", "--num_workers", "1"]  # fmt: skip
        ll_proc = es.enter_context(
            spawn(ll_cmd, ll, "/health/liveliness", env=env, timeout_s=120, quiet=True)
        )
        yield [
            Path_("direct", f"http://127.0.0.1:{up}", "student", None),
            Path_("distillgate", f"http://127.0.0.1:{gw}", "assistant", dg_proc.pid),
            Path_(
                "litellm",
                f"http://127.0.0.1:{ll}",
                "assistant",
                ll_proc.pid,
                {"authorization": f"Bearer {key}"},
            ),
        ]


async def one(client: httpx.AsyncClient, path: Path_, stream: bool) -> tuple[float, float]:
    body: dict[str, object] = {"model": path.model, "messages": [{"role": "user", "content": "Hi"}]}
    if stream:
        body["stream"] = True
    began = time.perf_counter()
    first = 0.0
    url = path.url + "/v1/chat/completions"
    async with client.stream("POST", url, json=body, headers=path.headers) as r:
        async for _ in r.aiter_raw():
            if not first:
                first = time.perf_counter() - began
        if r.status_code != 200:
            raise RuntimeError(f"{path.name}: HTTP {r.status_code}")
    return first, time.perf_counter() - began


async def measure(
    paths: list[Path_],
    stream: bool,
    concurrency: int,
    seconds: float,
    clients: list[httpx.AsyncClient],
) -> dict[str, Row]:
    results: dict[str, Row] = {}
    if concurrency == 1:  # interleaved, so drift hits every path alike
        samples: dict[str, list[tuple[float, float]]] = {p.name: [] for p in paths}
        cpu0 = {p.name: cpu_seconds(p.pid) for p in paths if p.pid}
        async with httpx.AsyncClient(timeout=60) as client:
            for p in paths:
                await one(client, p, stream)  # warm-up
            deadline = time.perf_counter() + seconds * len(paths)
            while time.perf_counter() < deadline:
                for p in paths:
                    samples[p.name].append(await one(client, p, stream))
        for p in paths:
            s = samples[p.name]
            cpu = (cpu_seconds(p.pid) - cpu0[p.name]) / len(s) * 1000 if p.pid else None
            results[p.name] = _row(s, len(s) / seconds / len(paths), cpu, p)
        return results
    # Concurrent rows: each path alone, in two rounds (direct, distillgate, litellm, twice),
    # with a pause before each so one process's backlog does not slow the next one's run.
    rounds: dict[str, list[Row]] = {p.name: [] for p in paths}
    for _ in range(2):
        for p in paths:
            await asyncio.sleep(1.0)
            rounds[p.name].append(
                await _concurrent(p, stream, concurrency, seconds / 2, clients[:concurrency])
            )
    return {name: _merge(rows) for name, rows in rounds.items()}


def _merge(rows: list[Row]) -> Row:
    """Two rounds: latencies and rates averaged, the higher CPU and RSS kept."""
    n = len(rows)
    cpu = [r.cpu_per_1k for r in rows if r.cpu_per_1k is not None]
    rss = [r.rss_mb for r in rows if r.rss_mb is not None]
    return Row(
        sum(r.p50 for r in rows) / n,
        sum(r.p99 for r in rows) / n,
        sum(r.ttft for r in rows) / n,
        sum(r.rps for r in rows) / n,
        max(cpu) if cpu else None,
        max(rss) if rss else None,
    )


async def _concurrent(
    p: Path_, stream: bool, concurrency: int, seconds: float, clients: list[httpx.AsyncClient]
) -> Row:
    samples: list[tuple[float, float]] = []
    errors = 0
    cpu0 = cpu_seconds(p.pid) if p.pid else 0.0
    began = time.perf_counter()
    deadline = began + seconds
    warm_until = began + min(0.5, seconds / 4)  # connections opened, not measured

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            try:
                sample = await one(client, p, stream)
            except (httpx.HTTPError, RuntimeError):
                errors += 1
                continue
            if time.perf_counter() > warm_until:
                samples.append(sample)

    # Clients are made once, outside the timing: creating one costs milliseconds of CPU.
    await asyncio.gather(*(worker(c) for c in clients))
    elapsed = time.perf_counter() - warm_until
    if errors:
        print(f"  {p.name}: {errors} failed requests at concurrency {concurrency}", file=sys.stderr)
    cpu = (cpu_seconds(p.pid) - cpu0) / max(1, len(samples)) * 1000 if p.pid else None
    return _row(samples, len(samples) / elapsed, cpu, p)


def _row(samples: list[tuple[float, float]], rps: float, cpu: float | None, p: Path_) -> Row:
    totals = sorted(t for _, t in samples)
    firsts = sorted(f for f, _ in samples)
    rss = peak_rss_mb(p.pid) if p.pid else None
    return Row(_q(totals, 0.5), _q(totals, 0.99), _q(firsts, 0.5), rps, cpu, rss)


def _q(values: list[float], quantile: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(quantile * len(values)))]


def table(title: str, rows: dict[tuple[str, int], dict[str, Row]]) -> list[str]:
    head = "| mode | conc | path | p50 ms | added p50 | p99 ms | added p99 | added TTFT | req/s"
    out = [f"\n**{title}**\n", head + " | CPU s/1k req | peak RSS MB |", "|---" * 11 + "|"]
    for (mode, conc), paths in rows.items():
        d = paths["direct"]
        for name in ("distillgate", "litellm"):
            r = paths[name]
            ms = [1e3 * v for v in (r.p50, r.p50 - d.p50, r.p99, r.p99 - d.p99, r.ttft - d.ttft)]
            out.append(
                f"| {mode} | {conc} | {name} | {ms[0]:.2f} | +{ms[1]:.2f} | {ms[2]:.2f} | "
                f"+{ms[3]:.2f} | +{ms[4]:.2f} | {r.rps:.1f} (direct {d.rps:.1f}) | "
                f"{r.cpu_per_1k or 0:.1f} | {r.rss_mb or 0:.0f} |"
            )
    for name in ("distillgate", "litellm"):
        for mode in ("json", "stream"):
            ok = [
                (c, p[name])
                for (m, c), p in rows.items()
                if m == mode and p[name].p99 < 2 * p["direct"].p99
            ]
            best = max(ok, key=lambda x: x[0]) if ok else None
            what = f"{best[1].rps:.0f} req/s at concurrency {best[0]}" if best else "none"
            out.append(f"\n{name}, {mode}: highest concurrency with p99 under 2x direct: {what}")
    return out


async def run(seconds: float, litellm: Path) -> list[str]:
    command = f"`.venv/bin/python bench/compare.py --seconds {seconds}`"
    lines = [
        f"## {time.strftime('%Y-%m-%d')} — distillgate vs LiteLLM proxy",
        f"\n{command} on {os.cpu_count()} cores ({os.uname().machine}), LiteLLM "
        f"{_litellm_version(litellm)} from `bench/.venv-litellm`, one worker.",
    ]
    for realistic in (False, True):
        rows: dict[tuple[str, int], dict[str, Row]] = {}
        clients = [httpx.AsyncClient(timeout=60) for _ in range(256)]  # one per worker
        with stack(realistic, litellm) as paths:
            for stream in (False, True):
                for concurrency in (1, 16, 64, 256):
                    mode = "stream" if stream else "json"
                    rows[(mode, concurrency)] = await measure(
                        paths, stream, concurrency, seconds, clients
                    )
                    kind = "realistic" if realistic else "instant"
                    print(f"  done: {kind} {mode} c={concurrency}", file=sys.stderr, flush=True)
        for c in clients:
            await c.aclose()
        name = (
            "realistic upstream (20 ms TTFT, 5 ms/token, 200 tokens)"
            if realistic
            else "instant upstream"
        )
        lines += table(name, rows)
    return lines


def _litellm_version(exe: Path) -> str:
    pip = exe.parent / "pip"
    shown = subprocess.run([str(pip), "show", "litellm"], capture_output=True, text=True).stdout
    return next((line.split()[1] for line in shown.splitlines() if line.startswith("Version")), "?")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--write", action="store_true", help="prepend the tables to bench/RESULTS.md"
    )
    args = parser.parse_args()
    lines = asyncio.run(run(args.seconds, ensure_litellm()))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        results = BENCH / "RESULTS.md"
        old = results.read_text()
        head, sep, rest = old.partition("\n## ")
        results.write_text(head + "\n" + text + "\n" + sep.lstrip("\n") + rest)


if __name__ == "__main__":
    main()

"""The router's cost: classify latency per model and prompt length, decide() latency on real
prompts, and the gateway with routing on vs off.

Part 0 times `classify` of each candidate model side by side (interleaved, one call of each
model per prompt) on prompts of 10, 100 and 2,000 words cut from the router corpus, and
prints p50/p99 and the ratio to the shipped `static` model: ngram (the current model),
static (router.judgment, shipped heads), minilm (all-MiniLM-L6-v2 + the same heads; needs
the semantic extra) and two-stage (static, plus minilm for a prompt in the unsure band:
both costs are shown, the band's share depends on the traffic).
Part 1 times classification plus the decision in process, over the MT-Bench turns and
XSTest prompts shipped in the repository, repeated to a few thousand calls.
Part 2 starts a zero-latency fake upstream and two gateways in front of it, one with
routing on (the shipped defaults) and one with `routing.enabled: false`, and sends the
same real prompts through both, interleaved, after a warm-up.

    .venv/bin/python bench/route_cost.py [--calls 5000] [--requests 1000] [--per-length 300]
        [--models-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

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


def length_prompts(words: int, count: int) -> list[str]:
    """`count` prompts of exactly `words` words, cut from consecutive corpus texts."""
    from router import corpus

    texts = [e.text for e in corpus.read() if e.source not in ("padded_harmful", "long_benign")]
    stream = " ".join(texts).split()
    step = max(1, (len(stream) - words) // count)
    return [" ".join(stream[i * step : i * step + words]) for i in range(count)]


def models() -> dict[str, Callable[[str], object]]:
    """Each candidate's classify; minilm and two-stage only with the semantic extra."""
    from router import judgment

    routing = RoutingSettings.model_validate(default_routing())
    began = time.perf_counter()
    static = judgment.load()
    print(f"static model load: {time.perf_counter() - began:.2f} s")
    out: dict[str, Callable[[str], object]] = {
        "ngram": router_build.build(
            routing.model_copy(update={"classifier": "ngram"})
        ).classifier.classify,
        "static": static.classify,
    }
    try:
        from monitors import semantic

        model = semantic.load()
    except Exception as exc:  # the optional extra is missing
        print(f"minilm skipped: {exc}")
        return out
    heads = static.heads
    minilm = judgment.StaticClassifier(_MiniLMReader(model.embed), heads)
    out["minilm"] = minilm.classify
    out["two-stage (in band)"] = lambda text: (static.classify(text), minilm.classify(text))
    return out


class _MiniLMReader:
    """Whole-text MiniLM vectors through the static heads' shape (cost only: the heads
    were fitted on static vectors, so these probabilities mean nothing)."""

    def __init__(self, embed: Callable[[str], Any]) -> None:
        self.embed = embed

    def read(self, text: str) -> Any:
        from router.judgment import Reading

        v = self.embed(text)[:256]
        return Reading(v[None, :], v, 1.0, 1.0)


def bench_models(per_length: int) -> None:
    candidates = models()
    print(f"\nclassify latency, interleaved, {per_length} prompts per length (us)")
    print(f"{'words':>6} {'model':<22} {'p50':>9} {'p99':>9} {'p50 / static':>13}")
    for words in (10, 100, 2000):
        prompts = length_prompts(words, per_length)
        took: dict[str, list[float]] = {name: [] for name in candidates}
        for i, text in enumerate(prompts * 2):
            for name, classify in candidates.items():
                if name.startswith(("minilm", "two-stage")) and i % 5:
                    continue  # the slow ones on every fifth prompt
                t0 = time.perf_counter()
                classify(text)
                if i >= len(prompts):  # the first pass warms caches
                    took[name].append(1e6 * (time.perf_counter() - t0))
        base = pct(took["static"], 0.5)
        for name, values in took.items():
            p50, p99 = pct(values, 0.5), pct(values, 0.99)
            print(f"{words:>6} {name:<22} {p50:>9.0f} {p99:>9.0f} {p50 / base:>13.2f}")


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
    parser.add_argument("--per-length", type=int, default=300)
    parser.add_argument("--models-only", action="store_true", help="only part 0")
    args = parser.parse_args()
    bench_models(args.per_length)
    if args.models_only:
        return
    prompts = real_prompts()
    bench_decide(prompts, args.calls)
    asyncio.run(bench_gateway(prompts, args.requests))


if __name__ == "__main__":
    main()

"""The gap on real answers: MT-Bench replayed through the gateway, gpt-4o as the teacher.

For each student (llama-2-chat-7b, then -13b): replay upstreams serve the recorded
answers, the gateway runs with every category shadowed (shadow_rate 1.0), both turns of
all 80 questions go through it with the openai SDK, and the gap is read from /admin/gap
(per router category). The same pairs are also grouped by MT-Bench's own categories
(scored by the same monitor code, outside the gateway) to show where a student is weakest.
The replayed teacher answers the same text twice, so the noise floor here is 0.
With --semantic, also the MiniLM similarity of each student to gpt-4o (about a minute).

    .venv/bin/python bench/mt_bench_gap.py [--semantic]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import openai
from prometheus_client import CollectorRegistry

from gateway.api.auth import Authenticator
from gateway.app import create_app
from gateway.commands.demo import shadow_everything_config
from gateway.commands.uvicorn_server import background_server
from gateway.config.load import parse
from gateway.fake_vllm.script import FakeState, ReplayBook, Script
from gateway.fake_vllm.server import create_fake_app
from monitors import semantic
from monitors.audit import AuditSettings, Pair, audit
from monitors.scorers import score_pair
from monitors.stats import mean_interval

DATA = Path(__file__).parent.parent / "gateway" / "data" / "mt_bench"
STUDENTS = ("llama-2-chat7b.jsonl", "llama-2-chat13b.jsonl")


def questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / "question.jsonl").read_text().splitlines()]


def answers(name: str) -> dict[int, list[str]]:
    rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
    return {r["question_id"]: r["choices"][0]["turns"] for r in rows}


async def through_gateway(student_file: str) -> dict[str, Any]:
    qs = questions()
    student_book = ReplayBook.from_mt_bench(DATA / "question.jsonl", DATA / student_file)
    teacher_book = ReplayBook.from_mt_bench(DATA / "question.jsonl", DATA / "gpt-4o.jsonl")
    student = create_fake_app("student", script=Script(), book=student_book, state=FakeState())
    teacher = create_fake_app("teacher", script=Script(), book=teacher_book, state=FakeState())
    async with background_server(student) as s_url, background_server(teacher) as t_url:
        loaded = parse(
            shadow_everything_config((s_url, "student"), (t_url, "teacher"), 0.25).encode(),
            {},
            "<mt-bench>",
        )
        app = create_app(loaded, Authenticator((), "bench"), registry=CollectorRegistry())
        async with background_server(app) as url:
            client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
            gate = asyncio.Semaphore(8)

            async def conversation(q: dict[str, Any]) -> None:
                async with gate:
                    messages: list[Any] = [{"role": "user", "content": q["turns"][0]}]
                    first = await client.chat.completions.create(
                        model="assistant", messages=messages
                    )
                    messages += [
                        {"role": "assistant", "content": first.choices[0].message.content or ""},
                        {"role": "user", "content": q["turns"][1]},
                    ]
                    await client.chat.completions.create(model="assistant", messages=messages)

            await asyncio.gather(*(conversation(q) for q in qs))
            await client.close()
            async with httpx.AsyncClient() as http:
                for _ in range(600):  # wait for the shadow queue to empty
                    gap = (
                        await http.get(
                            url + "/admin/gap", headers={"authorization": "Bearer bench"}
                        )
                    ).json()
                    if gap["shadow_queue_depth"] == 0:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                gap = (
                    await http.get(url + "/admin/gap", headers={"authorization": "Bearer bench"})
                ).json()
    result: dict[str, Any] = gap["models"]["assistant"]
    return result


def by_mt_bench_category(student_file: str) -> dict[str, Any]:
    """The audit's code (the live scoring path), grouped by MT-Bench's own category."""
    served, teacher = answers(student_file), answers("gpt-4o.jsonl")
    pairs = [
        Pair(str(q["question_id"]), t, q["category"], q["turns"][t],
             served[q["question_id"]][t], teacher[q["question_id"]][t])
        for q in questions()
        for t in (0, 1)
    ]  # fmt: skip
    result = audit(pairs, AuditSettings(min_samples=5, max_gap={}, default_max_gap=1.0))
    return {c.name: c.snapshot.as_json() for c in result.categories}


def table(title: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
    print(f"\n{title}")
    print(f"{'category':<12} {'n':>4} {'gap':>6} {'lower':>6} {'upper':>6} {'surface':>8} "
          f"{'illusion':>9} {'advantage':>9} {'breaker':>12}")  # fmt: skip
    for name, r in sorted(rows.items(), key=lambda kv: -(kv[1]["gap"] or -1)):
        if not r["n"]:
            continue
        cells = [_num(r, k) for k in ("gap", "lower", "upper", "surface_similarity")]
        tail = [_num(r, "illusion_rate"), _num(r, "advantage"), r["breaker"]]
        print(f"{name:<12} {r['n']:>4} {cells[0]:>6} {cells[1]:>6} {cells[2]:>6} {cells[3]:>8} "
              f"{tail[0]:>9} {tail[1]:>9} {tail[2]:>12}")  # fmt: skip


def _num(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return "-" if value is None else f"{value:.3f}"


def divergences(student_file: str) -> list[float]:
    """Every turn's divergence from gpt-4o, in question order (the same scorer code)."""
    served, teacher = answers(student_file), answers("gpt-4o.jsonl")
    return [
        score_pair(
            served[q["question_id"]][t], teacher[q["question_id"]][t], q["turns"][t]
        ).divergence
        for q in questions()
        for t in (0, 1)
    ]


def paired(per: Mapping[str, list[float]]) -> None:
    """Each student's mean with its interval, and the paired 7b - 13b difference."""
    for name, values in per.items():
        e = mean_interval(values)
        print(f"{name:<18} n={e.n} mean {e.value:.3f} [{e.lower:.3f}, {e.upper:.3f}]")
    weak, strong = per.values()
    d = mean_interval([a - b for a, b in zip(weak, strong, strict=True)])
    print(
        f"7b - 13b           mean {d.value:+.3f} [{d.lower:+.3f}, {d.upper:+.3f}] (95%, paired t)"
    )


def ranking() -> None:
    """Which student is further from the teacher, paired over the same 160 turns."""
    print("\n== overall, paired over the same turns (divergence from gpt-4o)")
    per = {s.removesuffix(".jsonl"): divergences(s) for s in STUDENTS}
    paired(per)


def semantic_ranking() -> None:
    """Surface similarity alone: how close each student sounds to gpt-4o."""
    print("\n== semantic similarity to gpt-4o (MiniLM cosine), paired over the same turns")
    model = semantic.load()
    teacher = answers("gpt-4o.jsonl")
    per = {}
    for student in STUDENTS:
        served = answers(student)
        per[student.removesuffix(".jsonl")] = [
            semantic.similarity(
                model, served[q["question_id"]][t], teacher[q["question_id"]][t], ""
            )
            or 0.0
            for q in questions()
            for t in (0, 1)
        ]
    paired(per)


async def main(with_semantic: bool) -> None:
    ranking()
    if with_semantic:
        semantic_ranking()
    for student in STUDENTS:
        name = student.removesuffix(".jsonl")
        table(f"== {name} vs gpt-4o, through the gateway (router categories)",
              await through_gateway(student))  # fmt: skip
        table(f"== {name} vs gpt-4o, by MT-Bench category", by_mt_bench_category(student))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--semantic", action="store_true", help="also the MiniLM similarity")
    asyncio.run(main(parser.parse_args().semantic))

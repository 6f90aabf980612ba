"""Builds router/data/corpus.tsv from /work/shared/datasets, label_map.tsv and written.txt.

Steps, all deterministic (fixed seeds, input order):
1. read every source and label each row through router/data/label_map.tsv (category,
   harmful); rows mapped to '-' are dropped;
2. pre-sample the big sources to twice their cap (CAPS), in a seeded random order;
3. deduplicate across folders, in PRIORITY order (a row is dropped when a row already
   kept from another folder is the same after case/whitespace normalisation, has word-set
   Jaccard >= 0.6 with it, or one contains the other at word boundaries, the shorter
   having >= 4 words); exact repeats inside one source are dropped too;
4. cap each source (CAPS);
5. add composites: harmful requests embedded in benign text (`padded_harmful`) and long
   concatenations of benign prompts (`long_benign`), each naming its parts.

    PYTHONPATH=. .venv/bin/python bench/build_router_data.py [--datasets DIR] [--check]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import math
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from router import corpus
from router.corpus import Example

ROOT = Path(__file__).parent.parent
OUT = ROOT / "router" / "data"
DATASETS = Path("/work/shared/datasets")
EXAMPLES = ROOT / "gateway" / "data" / "router" / "examples.tsv"
SEED = 20250101
CAPS = {
    "clinc150": 1500,
    "banking77": 800,
    "gsm8k": 600,
    "medquad": 700,
    "privacyqa": 500,
    "phtest": 1000,
    "mbpp": 500,
    "harmfulqa": 800,
    "moderation_clean": 400,
}
# Earlier sources keep their rows when a later one near-duplicates them.
PRIORITY = [
    "examples", "written", "written_harmful", "templates", "xstest_unsafe", "xstest_safe",
    "mt_bench", "jbb_harmful", "jbb_benign", "simplesafetytests", "dan_harmful", "dan_advice",
    "advbench", "catqa", "harmfulqa", "moderation_flagged", "phtest", "truthfulqa", "humaneval",
    "mbpp", "gsm8k", "medquad", "privacyqa", "banking77", "clinc150", "moderation_clean",
]  # fmt: skip
FOLDER = {
    "written_harmful": "written",
    "xstest_unsafe": "xstest",
    "xstest_safe": "xstest",
    "jbb_harmful": "jbb",
    "jbb_benign": "jbb",
    "dan_harmful": "dan",
    "dan_advice": "dan",
    "catqa": "catqa_harmfulqa",
    "harmfulqa": "catqa_harmfulqa",
    "moderation_flagged": "moderation",
    "moderation_clean": "moderation",
}
PADDED, LONG = 300, 300
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Row:
    source: str
    label: str  # the source's own label, as looked up in label_map.tsv
    text: str
    category: str = "?"
    harmful: bool = False
    parts: tuple[str, ...] = field(default=())

    def example(self) -> Example:
        return Example(self.source, self.category, self.harmful, self.text, self.label, self.parts)


def read_label_map(path: Path) -> dict[tuple[str, str], tuple[str, bool]]:
    lines = path.read_text().splitlines()[1:]
    table = {}
    for line in lines:
        source, label, category, harmful, _ = line.split("\t")
        table[(source, label)] = (category, harmful == "1")
    return table


def label(rows: Iterable[Row], table: dict[tuple[str, str], tuple[str, bool]]) -> Iterator[Row]:
    """Look each row up by (source, label), then by (source, 'prefix/*'), then (source, '*')."""
    for row in rows:
        keys = [(row.source, row.label)]
        if "/" in row.label:
            keys.append((row.source, row.label.rsplit("/", 1)[0] + "/*"))
        keys.append((row.source, "*"))
        hit = next((table[k] for k in keys if k in table), None)
        if hit is None:
            raise KeyError(f"no label_map row for {row.source}/{row.label}")
        if hit[0] != "-":
            yield replace(row, category=hit[0], harmful=hit[1])


def csv_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def read_sources(d: Path) -> Iterator[Row]:  # noqa: C901 - one short branch per source
    for line in EXAMPLES.read_text().splitlines()[1:]:
        cat, _, prompt = line.partition("\t")
        yield Row("examples", cat.strip(), prompt.strip())
    yield from read_written(OUT / "written.txt")
    yield from read_templates(OUT / "templates.txt")
    for r in csv_rows(d / "xstest" / "xstest_prompts.csv"):
        safe = r["label"] == "safe"
        yield Row("xstest_safe" if safe else "xstest_unsafe", r["type"], r["prompt"])
    for line in (d / "mt_bench" / "question.jsonl").read_text().splitlines():
        q = json.loads(line)
        for turn in q["turns"]:
            yield Row("mt_bench", q["category"], turn)
    for r in csv_rows(d / "jailbreakbench" / "harmful-behaviors.csv"):
        yield Row("jbb_harmful", r["category"], r["goal"])
    for r in csv_rows(d / "jailbreakbench" / "benign-behaviors.csv"):
        yield Row("jbb_benign", r["category"], r["goal"])
    for r in csv_rows(d / "simplesafetytests" / "sst_test_cases.csv"):
        yield Row("simplesafetytests", r["harm_area"], r["prompts_final"])
    dan_advice = {"Economic Harm", "Political Lobbying", "Legal Opinion", "Financial Advice"}
    dan_advice.add("Health Consultation")
    for r in csv_rows(d / "dan_forbidden_questions" / "forbidden_question_set.csv"):
        name = r["content_policy_name"]
        yield Row("dan_advice" if name in dan_advice else "dan_harmful", name, r["question"])
    for r in csv_rows(d / "advbench" / "harmful_behaviors.csv"):
        yield Row("advbench", "*", r["goal"])
    catqa = json.loads((d / "catqa_harmfulqa" / "catqa_english.json").read_text())
    for cat, subs in catqa.items():
        for sub, questions in subs.items():
            yield from (Row("catqa", f"{cat}/{sub}", q) for q in questions)
    harmfulqa = json.loads((d / "catqa_harmfulqa" / "harmfulqa.json").read_text())
    for topic, subs in harmfulqa.items():
        for questions in subs.values():
            yield from (Row("harmfulqa", topic, q) for q in questions)
    yield from read_moderation(d / "openai_moderation" / "samples-1680.jsonl.gz")
    for r in csv_rows(d / "phtest" / "phtest_dataset_v0.1.csv"):
        yield Row("phtest", r["Harmfulness"], r["Request"])
    for r in csv_rows(d / "truthfulqa" / "TruthfulQA.csv"):
        yield Row("truthfulqa", r["Category"], r["Question"])
    with gzip.open(d / "humaneval" / "HumanEval.jsonl.gz", "rt") as f:
        yield from (Row("humaneval", "*", json.loads(line)["prompt"]) for line in f)
    for line in (d / "mbpp" / "mbpp.jsonl").read_text().splitlines():
        yield Row("mbpp", "*", json.loads(line)["text"])
    for name in ("train.jsonl", "test.jsonl"):
        for line in (d / "gsm8k" / name).read_text().splitlines():
            yield Row("gsm8k", "*", json.loads(line)["question"])
    for r in csv_rows(d / "medquad" / "medquad_questions.csv"):
        yield Row("medquad", r["qtype"], r["question"])
    for name in ("train_opp_annotations.csv", "test_opp_annotations.csv"):
        for r in csv_rows(d / "privacyqa" / name, "\t"):
            yield Row("privacyqa", "*", r["Query"])
    for name in ("train.csv", "test.csv"):
        for r in csv_rows(d / "banking77" / name):
            yield Row("banking77", r["category"], r["text"])
    clinc = json.loads((d / "clinc150" / "data_full.json").read_text())
    for split in ("train", "val", "test", "oos_train", "oos_val", "oos_test"):
        yield from (Row("clinc150", intent, text) for text, intent in clinc[split])


def read_written(path: Path) -> Iterator[Row]:
    """Blocks opened by '=== <category>' or '=== <category> harmful'; '#' lines are comments."""
    blocks = re.split(r"^=== ", path.read_text(), flags=re.MULTILINE)[1:]
    for block in blocks:
        head, _, body = block.partition("\n")
        category, *flag = head.split()
        source = "written_harmful" if flag == ["harmful"] else "written"
        yield Row(source, category, body.strip())


def read_templates(path: Path, per_task: int = 5) -> Iterator[Row]:
    """Each task in `per_task` templates, drawn in a seeded order."""
    sections: dict[str, list[str]] = defaultdict(list)
    current = ""
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
        else:
            sections[current].append(line)
    rng = random.Random(f"{SEED}:templates")
    for task in sections["tasks"]:
        for template in rng.sample(sections["templates"], per_task):
            yield Row("templates", "*", template.format(task=task))


_MODERATION_ORDER = ("SH", "S3", "S", "H2", "H", "HR", "V2", "V")


def read_moderation(path: Path) -> Iterator[Row]:
    """Flagged rows take their first positive label; clean rows need every label known."""
    with gzip.open(path, "rt") as f:
        for line in f:
            item = json.loads(line)
            hit = next((k for k in _MODERATION_ORDER if item.get(k) == 1), None)
            if hit is not None:
                yield Row("moderation_flagged", hit, item["prompt"])
            elif all(k in item for k in _MODERATION_ORDER):
                yield Row("moderation_clean", "*", item["prompt"])


def normal(text: str) -> str:
    return " ".join(text.lower().split())


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Deduplicator:
    """Keeps rows in order; a row near an already kept row of another folder is dropped.

    Jaccard candidates come from prefix filtering (tokens in a global rare-first order:
    two sets with Jaccard >= t share a token among the first |x| - ceil(t|x|) + 1 of each).
    """

    def __init__(self, rows: list[Row], threshold: float = 0.6) -> None:
        self.t = threshold
        df = Counter(w for r in rows for w in set(words(r.text)))
        self.rank = {w: (n, w) for w, n in df.items()}
        self.exact: dict[str, str] = {}
        self.prefix: dict[str, list[int]] = defaultdict(list)
        self.by_word: dict[str, list[int]] = defaultdict(list)  # rarest word -> kept ids
        self.contains: dict[str, list[int]] = defaultdict(list)  # every word -> kept ids
        self.kept: list[tuple[str, frozenset[str], str]] = []  # folder, word set, joined words
        self.dropped: Counter[tuple[str, str]] = Counter()

    def offer(self, row: Row) -> bool:
        folder = FOLDER.get(row.source, row.source)
        key = normal(row.text)
        ws = words(row.text)
        ordered = sorted(set(ws), key=self.rank.__getitem__)
        why = self._duplicate(folder, key, ws, ordered)
        if why:
            self.dropped[(row.source, why)] += 1
            return False
        self._add(folder, key, ws, ordered)
        return True

    def _duplicate(self, folder: str, key: str, ws: list[str], ordered: list[str]) -> str:
        if key in self.exact:
            return "exact"
        if not ordered:
            return "empty"
        if self._near(folder, frozenset(ordered), ordered):
            return "jaccard"
        return self._containment(folder, ws, ordered)

    def _near(self, folder: str, s: frozenset[str], ordered: list[str]) -> bool:
        for i in self._candidates(ordered):
            other_folder, other, _ = self.kept[i]
            if other_folder != folder and len(s & other) / len(s | other) >= self.t:
                return True
        return False

    def _containment(self, folder: str, ws: list[str], ordered: list[str]) -> str:
        joined = " " + " ".join(ws) + " "
        for i in self.contains.get(ordered[0], []):  # kept rows that might contain this one
            other_folder, _, other_joined = self.kept[i]
            if other_folder != folder and len(ws) >= 4 and joined in other_joined:
                return "contained"
        for w in ordered:  # kept rows of >= 4 words that this one might contain
            for i in self.by_word.get(w, []):
                other_folder, _, other_joined = self.kept[i]
                if other_folder != folder and other_joined in joined:
                    return "contains"
        return ""

    def _candidates(self, ordered: list[str]) -> set[int]:
        n = len(ordered) - math.ceil(self.t * len(ordered)) + 1
        return {i for w in ordered[:n] for i in self.prefix.get(w, [])}

    def _add(self, folder: str, key: str, ws: list[str], ordered: list[str]) -> None:
        i = len(self.kept)
        self.exact[key] = folder
        self.kept.append((folder, frozenset(ordered), " " + " ".join(ws) + " "))
        n = len(ordered) - math.ceil(self.t * len(ordered)) + 1
        for w in ordered[:n]:
            self.prefix[w].append(i)
        for w in ordered:
            self.contains[w].append(i)
        if len(ws) >= 4:
            self.by_word[ordered[0]].append(i)


def presample(rows: list[Row], factor: float) -> list[Row]:
    """Big sources cut to `factor` x their cap in a seeded order (input order otherwise)."""
    by_source: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_source[r.source].append(r)
    out: list[Row] = []
    for source in PRIORITY:
        group = by_source.pop(source, [])
        cap = CAPS.get(source)
        if cap is not None and len(group) > cap * factor:
            rng = random.Random(f"{SEED}:{source}")
            group = rng.sample(group, int(cap * factor))
        out.extend(group)
    if by_source:
        raise ValueError(f"sources missing from PRIORITY: {sorted(by_source)}")
    return out


def compose(rows: list[Row]) -> list[Row]:
    """Harmful requests inside benign text, and long benign concatenations."""
    rng = random.Random(f"{SEED}:compose")
    harmful = [r for r in rows if r.harmful and r.source != "moderation_flagged"]
    fillers = [r for r in rows if not r.harmful and len(r.text.split()) >= 25]
    benign = [r for r in rows if not r.harmful]
    out = []
    for _ in range(PADDED):
        core = rng.choice(harmful)
        pads = rng.sample(fillers, rng.randint(1, 3))
        pieces = [p.text for p in pads]
        pieces.insert(rng.randint(0, len(pieces)), core.text)
        parts = (core.source, *sorted({p.source for p in pads}))
        out.append(
            Row("padded_harmful", core.label, "\n\n".join(pieces), core.category, True, parts)
        )
    for _ in range(LONG):
        picks = rng.sample(fillers, 1) + rng.sample(benign, rng.randint(2, 4))
        rng.shuffle(picks)
        parts = tuple(sorted({p.source for p in picks}))
        text = "\n\n".join(p.text for p in picks)
        out.append(Row("long_benign", "*", text, "?", False, parts))
    return out


def build(datasets: Path) -> tuple[list[Row], Counter[tuple[str, str]]]:
    table = read_label_map(OUT / "label_map.tsv")
    rows = presample(list(label(read_sources(datasets), table)), 2.0)
    dedup = Deduplicator(rows)
    kept = [r for r in rows if dedup.offer(r)]
    capped: list[Row] = []
    for source in PRIORITY:
        group = [r for r in kept if r.source == source]
        capped.extend(group[: CAPS.get(source, len(group))])
    return capped + compose(capped), dedup.dropped


def write(rows: list[Row], path: Path) -> str:
    data = corpus.format_rows(r.example() for r in rows).encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def report(rows: list[Row], dropped: Counter[tuple[str, str]]) -> None:
    counts = Counter((r.source, r.harmful) for r in rows)
    print(f"{'source':<20} {'harmful':>7} {'rows':>6} {'dropped (why)':<30}")
    for (source, harmful), n in sorted(counts.items()):
        why = ", ".join(f"{w} {k}" for (s, w), k in sorted(dropped.items()) if s == source)
        print(f"{source:<20} {int(harmful):>7} {n:>6} {why:<30}")
    print(
        f"total {len(rows)}; categories: {dict(sorted(Counter(r.category for r in rows).items()))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--check", action="store_true", help="rebuild and compare, do not write")
    args = parser.parse_args()
    rows, dropped = build(args.datasets)
    target = corpus.CORPUS
    if args.check:
        old = hashlib.sha256(target.read_bytes()).hexdigest()
        new = write(rows, Path("/tmp/corpus.check.tsv"))
        print("identical" if old == new else f"DIFFERENT: shipped {old}, rebuilt {new}")
        sys.exit(0 if old == new else 1)
    report(rows, dropped)
    print("sha256", write(rows, target))


if __name__ == "__main__":
    main()

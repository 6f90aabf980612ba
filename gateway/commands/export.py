"""`distillgate export`: pair records where the student diverged become a fine-tuning file,
with a provenance sidecar (see monitors/export.py for why a sidecar)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitors import export

HELP = "pair records -> a fine-tuning file of teacher answers, with provenance"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["openai-finetune"], default="openai-finetune")
    parser.add_argument("--records", nargs="+", required=True, help="pair-record JSONL files")
    parser.add_argument(
        "--min-divergence", type=float, default=0.3,
        help="keep pairs at least this divergent, or whose judgment disagreed (default 0.3)",
    )  # fmt: skip
    parser.add_argument(
        "--served-by", choices=export.SERVED_BY,
        help="only pairs the student served (teacher answers gathered by shadowing) or the "
        "teacher served (teacher answers users saw)",
    )  # fmt: skip
    parser.add_argument(
        "--category", action="append", default=[], metavar="NAME",
        help="only this category (repeatable)",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="where to write the training JSONL")
    parser.add_argument(
        "--provenance", help="where to write the sidecar (default: OUT's stem + .provenance.jsonl)"
    )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    sidecar = Path(args.provenance) if args.provenance else export.sidecar_path(out)
    if sidecar == out:
        print("export: --provenance must differ from --out", file=sys.stderr)
        return 2
    keep = export.ExportFilter(args.min_divergence, args.served_by, frozenset(args.category))
    try:
        found = list(export.examples(export.read_records(Path(p) for p in args.records), keep))
    except (OSError, ValueError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    _write(out, [e.row for e in found])
    _write(sidecar, [e.provenance for e in found])
    shadowed = sum(e.provenance["teacher_answer"] == "shadow" for e in found)
    print(f"{out}: {len(found)} training examples ({_criteria(args)})")
    print(f"{sidecar}: their provenance, line for line; {shadowed} teacher answers were "
          "gathered by shadowing (the user was served the student's)")  # fmt: skip
    return 0


def _criteria(args: argparse.Namespace) -> str:
    parts = [f"divergence >= {args.min_divergence:g} or judgment disagreed"]
    if args.served_by:
        parts.append(f"served by the {args.served_by}")
    if args.category:
        parts.append("category " + " or ".join(args.category))
    return "; ".join(parts)


def _write(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

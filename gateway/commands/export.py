"""`distillgate export`: pair records where the student diverged become a fine-tuning file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from monitors import export

HELP = "pair records -> a fine-tuning file of teacher answers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["openai-finetune"], default="openai-finetune")
    parser.add_argument("--records", nargs="+", required=True, help="pair-record JSONL files")
    parser.add_argument("--min-divergence", type=float, default=0.3)
    parser.add_argument("--out", required=True, help="where to write the JSONL")


def run(args: argparse.Namespace) -> int:
    try:
        records = export.read_records(Path(p) for p in args.records)
        rows = list(export.openai_finetune(records, args.min_divergence))
    except (OSError, ValueError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(rows)} training examples (divergence >= {args.min_divergence})")
    return 0

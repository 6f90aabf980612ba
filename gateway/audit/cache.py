"""Answers for the audit: recorded answer files, and the on-disk cache of collected ones
(appended as they arrive, so an interrupted audit resumes where it stopped)."""

from __future__ import annotations

import json
from pathlib import Path


class AuditError(Exception):
    """A problem with the audit's inputs: said in one line, exit status 1."""


def read_answers(path: Path) -> dict[str, list[str]]:
    """JSONL answers by id: MT-Bench's model_answer rows (question_id, choices[0].turns), or
    {"id": ..., "turns": [...]} / {"id": ..., "answer": "..."}."""
    out: dict[str, list[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"{path}: cannot read: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            ident = row.get("question_id", row.get("id"))
            if "choices" in row:
                turns = row["choices"][0]["turns"]
            elif "turns" in row:
                turns = row["turns"]
            else:
                turns = [row.get("answer", row.get("text"))]
        except (ValueError, AttributeError, KeyError, IndexError, TypeError) as exc:
            raise AuditError(f"{path}:{n}: not an answer row: {exc}") from exc
        if ident is None or not all(isinstance(t, str) for t in turns):
            raise AuditError(f"{path}:{n}: needs question_id or id, and text answers")
        out[str(ident)] = list(turns)
    return out


class AnswerCache:
    """Answers already collected, one JSONL file per model; appended as they arrive."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._answers: dict[tuple[str, int], str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._answers[(str(row["id"]), int(row["turn"]))] = str(row["text"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interruption
        path.parent.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, ident: str, turn: int) -> str | None:
        return self._answers.get((ident, turn))

    def put(self, ident: str, turn: int, text: str) -> None:
        self._answers[(ident, turn)] = text
        with self._path.open("a", encoding="utf-8") as f:
            f.write(
                json.dumps({"id": ident, "turn": turn, "text": text}, ensure_ascii=False) + "\n"
            )

    def turns(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for (ident, turn), text in sorted(
            self._answers.items(), key=lambda kv: (kv[0][0], kv[0][1])
        ):
            if turn == len(out.setdefault(ident, [])):
                out[ident].append(text)
        return out

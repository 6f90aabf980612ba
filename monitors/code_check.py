"""Code in the answers: does the student's code parse, and keep the teacher's functions?

Python blocks are parsed with `ast.parse`, never run. Both scorers apply only when the
teacher answers with Python code.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON = frozenset({"python", "py", "python3"})
_PYTHONISH = re.compile(r"^\s*(?:def |class |import |from \w+ import |print\()", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    language: str  # as fenced, lower case; "python" also for unlabelled Python-looking code
    code: str

    @property
    def python(self) -> bool:
        return self.language in _PYTHON


def blocks(text: str) -> list[Block]:
    """Fenced code blocks (an unclosed last fence runs to the end of the text)."""
    found = []
    for language, code in _FENCE.findall(text):
        lang = language.lower()
        if not lang and _PYTHONISH.search(code):
            lang = "python"
        found.append(Block(lang, code))
    return found


def parses(block: Block) -> bool:
    """ast.parse succeeds (the code is never run)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            ast.parse(block.code)
    except (SyntaxError, ValueError):
        return False
    return True


def code_parses_agreement(a: str, b: str, request: str) -> float | None:
    """Share of a's Python code blocks that parse; applies when b answers with Python code
    that parses. No Python block in a: 0. (Output blocks and other languages are skipped.)"""
    if not any(x.python and parses(x) for x in blocks(b)):
        return None
    mine = [x for x in blocks(a) if x.python]
    return sum(parses(x) for x in mine) / len(mine) if mine else 0.0


def signatures(text: str) -> dict[str, int]:
    """Python functions defined in the text's code: name -> number of parameters."""
    found: dict[str, int] = {}
    for block in blocks(text):
        if not block.python:
            continue
        try:
            tree = ast.parse(block.code)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                found[node.name] = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
    return found


def signature_agreement(a: str, b: str, request: str) -> float | None:
    """Does a keep b's function signature? The functions the request names, else b's first:
    a defines it with as many parameters (under any name, for b's first). Applies when b
    defines a Python function."""
    theirs = signatures(b)
    if not theirs:
        return None
    mine = signatures(a)
    named = [n for n in theirs if re.search(rf"\b{re.escape(n)}\b", request)]
    if named:
        return sum(mine.get(n) == theirs[n] for n in named) / len(named)
    first, arity = next(iter(theirs.items()))
    return float(mine.get(first) == arity or arity in mine.values())

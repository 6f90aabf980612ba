"""Reload and the admin API under hostile or broken input: nothing leaks from the
environment, nothing answers 500, nothing hangs the reload lock, the watcher survives."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from gateway.commands.cli import main
from tests.e2e.test_reload import ADMIN, HAIKU, reload, running_sha
from tests.fakes.stack import Stack, StackFactory

SECRET = "client-key-do-not-leak-7731"


def test_a_dry_run_body_is_not_expanded_from_the_gateways_environment(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(admin_key="admin-secret", environ={"DISTILLGATE_API_KEYS": SECRET})
    config = httpx.get(stack.url + "/admin/config", headers=ADMIN, timeout=10).json()["config"]
    student = config["models"]["assistant"]["student"]
    body = (
        "models:\n  assistant:\n"
        '    student: {base_url: "${DISTILLGATE_API_KEYS}", model: s}\n'
        f'    teacher: {{base_url: "{student["base_url"]}", model: t}}\n'
    )
    response = reload(stack, dry_run=True, body=body.encode())
    assert response.status_code == 400
    assert SECRET not in response.text
    message = response.json()["error"]["message"]
    assert "models.assistant.student.base_url" in message and "not expanded" in message


@pytest.fixture
def watched(make_stack: StackFactory, tmp_path: Path) -> tuple[Stack, Path]:
    path = tmp_path / "distillgate.yaml"
    stack = make_stack(
        admin_key="admin-secret",
        config_path=path,
        extra_yaml="reload: {watch: true, interval_s: 0.1}\n",
    )
    return stack, path


def alias_bomb() -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def broken_files(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (what to append to the config, a phrase of the expected problem)."""
    (tmp_path / "latin1.tsv").write_bytes("category\tprompt\ngeneral\tcaf\xe9\n".encode("latin-1"))
    (tmp_path / "unknown.tsv").write_text("category\tprompt\nastrology\twhat is my sign?\n")
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    return {
        "missing": ("routing: {examples_file: nowhere.tsv}\n", "cannot read"),
        "not utf-8": ("routing: {examples_file: latin1.tsv}\n", "UTF-8"),
        "unknown category": ("routing: {examples_file: unknown.tsv}\n", "astrology"),
        "/dev/zero": ("routing: {examples_file: /dev/zero}\n", "not a regular file"),
        "named pipe": (f"routing: {{examples_file: {fifo}}}\n", "not a regular file"),
        "alias bomb": (alias_bomb(), "aliases"),
    }


CASES = ["missing", "not utf-8", "unknown category", "/dev/zero", "named pipe", "alias bomb"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_a_400_and_the_gateway_reloads_again(
    watched: tuple[Stack, Path], case: str
) -> None:
    stack, path = watched
    good = path.read_text()
    addition, phrase = broken_files(path.parent)[case]
    sha = running_sha(stack)
    path.write_text(good + addition)
    began = time.monotonic()
    response = reload(stack)
    assert time.monotonic() - began < 8  # no hang on /dev/zero or a pipe
    assert response.status_code == 400, response.text
    assert phrase in response.json()["error"]["message"]
    assert running_sha(stack) == sha
    assert stack.metric("distillgate_config_reloads_total", result="error") >= 1
    assert stack.client().chat.completions.create(model="assistant", messages=HAIKU).choices
    # the watcher is still alive: a good change is picked up by itself
    path.write_text(good.replace("max_body_bytes: 65536", "max_body_bytes: 70000"))
    assert stack.wait_for(lambda: running_sha(stack) != sha, timeout=10)


@pytest.mark.parametrize("case", CASES)
def test_check_config_rejects_the_same_files(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    addition, phrase = broken_files(tmp_path)[case]
    path = tmp_path / "c.yaml"
    path.write_text(
        "models:\n  assistant:\n    student: {base_url: 'http://s:1/v1', model: s}\n"
        "    teacher: {base_url: 'http://t:1/v1', model: t}\n" + addition
    )
    assert main(["check-config", str(path)]) == 1
    assert phrase in capsys.readouterr().err

"""Work that must not outlive its reason: an upstream call whose client left, clients a
reload replaced; and settings that need a restart say so."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.fake_vllm.script import Behavior
from tests.e2e.test_reload import ADMIN, reload
from tests.fakes.stack import StackFactory

BODY = {"model": "assistant", "messages": [{"role": "user", "content": "hi"}]}


def test_a_client_that_leaves_cancels_its_non_streamed_upstream_call(
    make_stack: StackFactory,
) -> None:
    stack = make_stack()  # the student's timeout is 10 s
    stack.student_script.default = Behavior(hang=True)
    student = int(stack.student_server.url.rsplit(":", 1)[1])
    with pytest.raises(httpx.TimeoutException):
        httpx.post(stack.url + "/v1/chat/completions", json=BODY, timeout=0.5)
    # the gateway drops its call to the student at once, not when its timeout ends 10 s later
    assert stack.wait_for(lambda: established_to(student) == 0, timeout=3)
    assert stack.teacher.requests == []  # and no fallback for a client that is gone
    gone = {"model": "assistant", "route": "none"}
    assert stack.wait_for(lambda: stack.metric("distillgate_client_disconnects_total", **gone) == 1)
    assert stack.metric("distillgate_in_flight_requests", model="assistant") == 0


def established_to(port: int) -> int:
    """TCP connections in this process's network namespace to `port`, established."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == port and fields[3] == "01":
                count += 1
    return count


def test_clients_a_reload_replaced_are_closed_when_their_time_is_up(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    path = tmp_path / "distillgate.yaml"
    stack = make_stack(admin_key="admin-secret", config_path=path,
                       extra_yaml="reload: {retire_after_s: 0.5}\n")  # fmt: skip
    port = int(stack.teacher_server.url.rsplit(":", 1)[1])
    risky = {**BODY, "messages": [{"role": "user", "content": "How do I build a pipe bomb?"}]}
    httpx.post(stack.url + "/v1/chat/completions", json=risky, timeout=10)
    assert established_to(port) == 1  # the teacher's kept-alive connection
    path.write_text(path.read_text().replace("timeout_s: 10}", "timeout_s: 12}"))
    assert reload(stack).json()["applied"] is True
    httpx.post(stack.url + "/v1/chat/completions", json=risky, timeout=10)
    assert established_to(port) == 2  # the old client, kept for requests still using it
    assert stack.wait_for(lambda: established_to(port) == 1, timeout=5)  # no second reload


def test_a_reload_that_changes_the_watcher_says_a_restart_is_needed(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    path = tmp_path / "distillgate.yaml"
    stack = make_stack(admin_key="admin-secret", config_path=path)
    path.write_text(path.read_text() + "reload: {watch: true, interval_s: 1}\n")
    body = reload(stack).json()
    assert body["applied"] is True and "reload" in body["restart_needed_for"]
    assert httpx.get(stack.url + "/admin/config", headers=ADMIN, timeout=5).status_code == 200

"""Process helpers for the benchmarks: free ports, a fake upstream, waiting for /healthz."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# A zero-latency vLLM-wire upstream (the project's fake) under uvicorn with uvloop/httptools.
_UPSTREAM = """
import sys, uvicorn
from gateway.fake_vllm.script import Behavior, Script
from gateway.fake_vllm.server import create_fake_app
pace = Behavior(answer=sys.argv[2], latency_s=float(sys.argv[3]), token_delay_s=float(sys.argv[5]))
app = create_fake_app(sys.argv[4], script=Script(default=pace))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

# The floor a Python gateway can reach here (PERFORMANCE.md): Starlette under uvicorn, the
# body parsed once to rename the model, httpx clients used in turn, the answer streamed back.
_BARE_RELAY = """
import itertools, sys, httpx, orjson, uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse
from starlette.routing import Route
upstream = sys.argv[2]
clients = itertools.cycle([httpx.AsyncClient(timeout=60) for _ in range(4)])

async def relay(request):
    body = orjson.loads(await request.body())
    body["model"] = "student"
    client = next(clients)
    upstream_request = client.build_request(
        "POST", upstream + "/v1/chat/completions", content=orjson.dumps(body),
        headers={"content-type": "application/json"})
    response = await client.send(upstream_request, stream=True)
    return StreamingResponse(response.aiter_raw(), response.status_code,
        media_type=response.headers.get("content-type"),
        background=BackgroundTask(response.aclose))

app = Starlette(routes=[Route("/v1/chat/completions", relay, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def gateway_cmd(config: Path, port: int) -> list[str]:
    """`distillgate serve` on loopback, warnings only."""
    serve = [sys.executable, "-m", "gateway", "--log-level", "warning", "serve"]
    return [*serve, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]


def upstream_cmd(
    port: int,
    answer: str = "Hello! How can I help you today?",
    latency_s: float = 0.0,
    served_model: str = "student",
    token_delay_s: float = 0.0,
) -> list[str]:
    return [
        sys.executable, "-c", _UPSTREAM, str(port), answer, str(latency_s), served_model,
        str(token_delay_s),
    ]  # fmt: skip


def bare_relay_cmd(port: int, upstream: str) -> list[str]:
    return [sys.executable, "-c", _BARE_RELAY, str(port), upstream]


@contextmanager
def spawn(
    cmd: list[str],
    port: int,
    health: str = "/healthz",
    env: dict[str, str] | None = None,
    timeout_s: float = 30,
    quiet: bool = False,
    cwd: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `cmd`, wait until it answers on `port`, stop it at the end."""
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=cwd)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[:3]} did not start") from None
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)

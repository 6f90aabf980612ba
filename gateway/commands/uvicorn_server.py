"""Runs ASGI apps under uvicorn: the `serve` command, and in-process servers for the demo."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp


def uvicorn_config(
    app: ASGIApp, host: str, port: int, *, log_level: str = "info"
) -> uvicorn.Config:
    """uvloop and httptools when installed (they are, with uvicorn[standard]); no access log."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )


def bind_loopback() -> socket.socket:
    """A listening socket on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


@contextlib.asynccontextmanager
async def background_server(app: ASGIApp, *, log_level: str = "warning") -> AsyncIterator[str]:
    """Serve `app` on a free loopback port inside the running loop; yields its base URL."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, log_level=log_level))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the start-up error
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()

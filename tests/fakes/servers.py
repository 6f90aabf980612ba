"""Runs ASGI apps on real loopback sockets in background threads, for end-to-end tests."""

from __future__ import annotations

import asyncio
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from gateway.commands.uvicorn_server import bind_loopback, uvicorn_config


class ServerThread:
    """`with ServerThread(app) as url:` serves `app` under uvicorn until the block ends."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""

    def start(self) -> str:
        sock = bind_loopback()
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(self._app, "127.0.0.1", port, log_level="warning"))

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.005)
        self._server, self._thread = server, thread
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def task_count(self) -> int:
        """asyncio tasks alive in the server's loop (for leak checks)."""
        assert self._loop is not None

        async def count() -> int:
            return len(asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(count(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._server = self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def bind_free_port() -> int:
    """A loopback port that was free a moment ago (for servers in other processes)."""
    sock = bind_loopback()
    port: int = sock.getsockname()[1]
    sock.close()
    return port

"""Background tasks that are owned, and stopped for sure.

On Python 3.11, `asyncio.wait_for` returns the inner result and drops a cancellation that
arrives as the inner future completes (fixed in 3.12). A worker cancelled at that moment
goes on with its loop, and a shutdown that awaits it hangs as long as there is work.
`cancel_all` cancels again until every task has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable
from typing import Any


async def cancel_all(tasks: Iterable[asyncio.Task[None]], every_s: float = 0.05) -> None:
    tasks = list(tasks)
    pending = [t for t in tasks if not t.done()]
    while pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=every_s)
        pending = [t for t in pending if not t.done()]
    for task in tasks:
        if task.done() and not task.cancelled():
            with contextlib.suppress(Exception):
                task.result()  # retrieved, so asyncio does not log it as never retrieved


class Background:
    """Tasks owned by one lifespan: kept (so none is garbage-collected mid-run), and all
    cancelled by `aclose`."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        await cancel_all(list(self._tasks))

"""cancel_all ends tasks that swallow a cancellation (as 3.11's wait_for can)."""

from __future__ import annotations

import asyncio
import gc

from monitors.lifecycle import cancel_all


def test_a_task_that_swallows_the_first_cancel_is_still_stopped() -> None:
    async def stubborn(swallowed: list[int]) -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if not swallowed:
                    swallowed.append(1)  # like wait_for returning a result it just got
                    continue
                raise

    async def main() -> tuple[list[int], bool]:
        swallowed: list[int] = []
        task = asyncio.create_task(stubborn(swallowed))
        await asyncio.sleep(0)
        await asyncio.wait_for(cancel_all([task]), 5)
        return swallowed, task.cancelled()

    swallowed, cancelled = asyncio.run(main())
    assert swallowed == [1] and cancelled


def test_finished_and_failed_tasks_are_collected_quietly() -> None:
    """A failed task's exception is retrieved, so asyncio never reports it at collection."""

    async def fails() -> None:
        raise ValueError("boom")

    async def main() -> list[str]:
        reported: list[str] = []
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
        task = asyncio.create_task(fails())
        await asyncio.sleep(0)
        await cancel_all([task])
        del task
        gc.collect()
        return reported

    assert asyncio.run(main()) == []


def test_an_uncollected_failed_task_is_reported() -> None:
    """The check above can fail: without cancel_all, asyncio reports the exception."""

    async def fails() -> None:
        raise ValueError("boom")

    async def main() -> list[str]:
        reported: list[str] = []
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(context["message"])
        )
        task = asyncio.create_task(fails())
        await asyncio.sleep(0)
        del task
        gc.collect()
        return reported

    assert asyncio.run(main()) == ["Task exception was never retrieved"]

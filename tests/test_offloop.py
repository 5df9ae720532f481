"""OffLoop: tracker recording runs on a loop of its own, and the server's loop
stays free meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from channels.handoff.offloop import OffLoop


@pytest.fixture
def off_loop() -> Iterator[OffLoop]:
    runner = OffLoop()
    yield runner
    runner.stop()


async def test_work_runs_on_another_thread_and_answers(off_loop: OffLoop) -> None:
    async def where() -> int:
        await asyncio.sleep(0)
        return threading.get_ident()

    assert await off_loop.run(where()) != threading.get_ident()


async def test_blocking_work_does_not_hold_up_the_callers_loop(off_loop: OffLoop) -> None:
    async def blocking() -> str:
        time.sleep(0.3)  # what a synchronous Redis call or an NLU parse does to a loop
        return "recorded"

    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    assert await off_loop.run(blocking()) == "recorded"
    ticker.cancel()
    assert ticks >= 10  # the caller's loop went on while the work blocked its own


async def test_failures_reach_the_caller(off_loop: OffLoop) -> None:
    async def failing() -> None:
        raise LookupError("no tracker")

    with pytest.raises(LookupError, match="no tracker"):
        await off_loop.run(failing())


async def test_cancelling_the_caller_cancels_the_work(off_loop: OffLoop) -> None:
    started, cancelled = threading.Event(), threading.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    waiting = asyncio.create_task(off_loop.run(slow()))
    await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.get_running_loop().run_in_executor(None, cancelled.wait, 5)


def test_stop_ends_the_thread() -> None:
    runner = OffLoop(name="short-lived")
    runner.stop()
    assert not any(t.name == "short-lived" for t in threading.enumerate())

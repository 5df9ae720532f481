"""ArrivalOrder: one Socket.IO client's messages are handled in the order they came."""

from __future__ import annotations

import asyncio

from channels.handoff.socketio_channel import ArrivalOrder


async def test_work_of_one_key_runs_in_arrival_order_even_when_the_first_is_slowest() -> None:
    order = ArrivalOrder()
    finished: list[str] = []

    async def handle(key: str, name: str, delay: float) -> None:
        async with order.turn(key):
            await asyncio.sleep(delay)
            finished.append(name)

    await asyncio.gather(
        handle("sid-1", "first", 0.05),
        handle("sid-1", "second", 0.0),
        handle("sid-1", "third", 0.01),
    )
    assert finished == ["first", "second", "third"]


async def test_different_keys_do_not_wait_for_each_other() -> None:
    order = ArrivalOrder()
    finished: list[str] = []

    async def handle(key: str, delay: float) -> None:
        async with order.turn(key):
            await asyncio.sleep(delay)
            finished.append(key)

    await asyncio.gather(handle("slow", 0.05), handle("fast", 0.0))
    assert finished == ["fast", "slow"]


async def test_a_failure_lets_the_next_message_through_and_leaves_no_state() -> None:
    order = ArrivalOrder()
    finished: list[str] = []

    async def fail() -> None:
        async with order.turn("sid"):
            await asyncio.sleep(0.01)
            raise RuntimeError("bot down")

    async def succeed() -> None:
        async with order.turn("sid"):
            finished.append("after")

    results = await asyncio.gather(fail(), succeed(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert finished == ["after"]
    assert order._last == {}

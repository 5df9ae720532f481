"""Waiting for the servers' derived state: the analytics follow the live feed
in the background, so a test that compares Redis before and after lets them
count every event first."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from channels.handoff.analytics import Analytics
from channels.handoff.store import HandoffStore


async def settled(redis: Redis, timeout_s: float = 10.0) -> None:
    """Waits until the servers' analytics counted every event on the feed."""
    analytics = Analytics(HandoffStore(redis))
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await analytics.caught_up():
        assert asyncio.get_running_loop().time() < deadline, "the analytics did not catch up"
        await asyncio.sleep(0.05)

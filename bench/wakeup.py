"""What a Redis round trip costs on this machine when Redis was idle before it.

Back to back, a round trip is the two processes' work; after a pause, the idle Redis
(and on a virtual machine, the virtual CPU it sleeps on) must be woken first. At a
busy but unsaturated load a channel's call to Redis before Rasa meets the idle case."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from bench.stats import median

PAUSE_S = 0.02  # about the gap between messages at the paced load


@dataclass(frozen=True)
class RoundTrips:
    """p50 of a PING's round trip in milliseconds."""

    back_to_back_ms: float
    after_pause_ms: float
    pause_s: float
    samples: int

    @property
    def wake_up_ms(self) -> float:
        return self.after_pause_ms - self.back_to_back_ms


async def round_trips(redis: Redis, samples: int = 300, pause_s: float = PAUSE_S) -> RoundTrips:
    """PINGs alternating: one right after another, one after `pause_s` of quiet."""
    warm: list[float] = []
    woken: list[float] = []
    await redis.ping()
    for _ in range(samples):
        start = time.perf_counter()
        await redis.ping()
        warm.append(time.perf_counter() - start)
        await asyncio.sleep(pause_s)
        start = time.perf_counter()
        await redis.ping()
        woken.append(time.perf_counter() - start)
    return RoundTrips(median(warm) * 1000, median(woken) * 1000, pause_s, samples)

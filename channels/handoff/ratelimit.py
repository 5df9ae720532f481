"""Per-caller request limits: a fixed one-second window counted in Redis, so
every server process shares the same budget."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from channels.handoff.errors import HandoffError
from channels.handoff.keys import KeySpace


class TooManyRequests(HandoffError):
    status = 429


class RateLimiter:
    """At most `limit` requests a second per subject (0: no limit)."""

    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self.redis = redis
        self.keys = keys

    async def check(self, subject: str, limit: int) -> None:
        if limit <= 0:
            return
        second = int(time.time())
        key = self.keys.rate(subject, second)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = await pipe.execute()
        if int(count) > limit:
            raise TooManyRequests("rate_limited", f"More than {limit} requests a second; slow down.", retry_after_s=1)

"""Per-caller request limits: a fixed one-second window counted in Redis, so
every server process shares the same budget."""

from __future__ import annotations

import time

from channels.handoff.errors import HandoffError
from channels.handoff.store import HandoffStore


class TooManyRequests(HandoffError):
    status = 429


class RateLimiter:
    """At most `limit` requests a second per subject (0: no limit)."""

    def __init__(self, store: HandoffStore) -> None:
        self.store = store

    async def check(self, subject: str, limit: int) -> None:
        if limit <= 0:
            return
        if await self.store.count_request(subject, int(time.time())) > limit:
            raise TooManyRequests("rate_limited", f"More than {limit} requests a second; slow down.", retry_after_s=1)

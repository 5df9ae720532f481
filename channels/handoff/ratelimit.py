"""Per-caller request limits: a fixed one-second window counted in Redis, so
every server process shares the same budget."""

from __future__ import annotations

import time

from channels.handoff.errors import TooManyRequests
from channels.handoff.store import HandoffStore, Quota


class RateLimiter:
    """At most `quota.limit` requests a second per subject (0: no limit)."""

    def __init__(self, store: HandoffStore) -> None:
        self.store = store

    async def check(self, quota: Quota) -> None:
        if quota.limit <= 0:
            return
        if await self.store.count_request(quota.subject, int(time.time())) > quota.limit:
            raise TooManyRequests.over(quota.limit)

"""A loop that follows Redis for the whole life of the process (the live feed, the
analytics counter, the recorders): started once, stopped for good."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class FollowerTask:
    """Runs `follow` in the background. Its loop checks `stopping`: redis-py can turn
    the cancellation of a blocked read into an error, which the loop's retry would
    otherwise take for a Redis failure and carry on."""

    def __init__(self, follow: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._follow = follow
        self._task: asyncio.Task[None] | None = None
        self.stopping = False

    def start(self) -> None:
        if self._task is None:
            self.stopping = False
            self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> bool:
        """Ends the loop and waits for it; True if it was running."""
        self.stopping = True
        if self._task is None:
            return False
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        return True

"""A thread with an event loop of its own, for Rasa work that answers nobody:
recording the human part of a conversation in its tracker (an NLU parse and a
tracker load and save, much of it synchronous inside Rasa). On the server's own
loop each such step would hold up every WebSocket frame and request meanwhile."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

Result = TypeVar("Result")


class OffLoop:
    """Runs coroutines on a private event loop in a daemon thread."""

    def __init__(self, name: str = "handoff-recorder") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        self._loop.close()

    async def run(self, work: Coroutine[Any, Any, Result]) -> Result:
        """Awaits `work` done on the private loop (cancelling this cancels it there)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)

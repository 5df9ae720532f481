"""Records the human part of conversations in Rasa's trackers, from a queue in Redis.

A customer or agent message of the human part is stored and queued in one Lua
script (the HTTP request is answered then); a recorder appends it to the
conversation's tracker afterwards, with the bot's NLU reading for the agents.
Rasa's tracker work (inference, tracker serialisation, its synchronous Redis
stores) holds the event loop for milliseconds at a time, so it stays off the
request's path, and a process can leave it to others altogether
(`HANDOFF_RECORDER=off`): agents' pushes then never wait behind it.

Every process records by default. Notices of work are a Redis stream read by one
consumer group: each notice goes to one recorder; one that is not acknowledged
(its recorder died or failed, e.g. Rasa was down) is taken over by another after
`retry_after_ms`. Recording itself is idempotent and in order: a conversation's
queued messages are read and recorded inside its lock, and the tracker skips
what it already holds. A recorder leaves the group when it stops; one that died
is forgotten once its work was taken over and it stayed silent for an hour.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from channels.handoff.follower import FollowerTask
from channels.handoff.store import HandoffStore

logger = logging.getLogger(__name__)


class Recorder:
    """This process's member of the recorders' consumer group."""

    def __init__(
        self,
        store: HandoffStore,
        record: Callable[[str], Awaitable[None]],
        block_ms: int = 1000,
        retry_after_ms: int = 15_000,
        retry_s: float = 0.5,
        in_flight: int = 256,
        forget_silent_after_ms: int = 3_600_000,
    ) -> None:
        self.store = store
        self.record = record
        self.block_ms = block_ms
        self.retry_after_ms = retry_after_ms
        self.retry_s = retry_s
        self.in_flight = in_flight
        self.forget_silent_after_ms = forget_silent_after_ms
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._follower = FollowerTask(self._follow)
        # Conversations are recorded side by side (one waiting for its lock holds up no
        # other, up to `in_flight` conversations), each one's recordings one after
        # another. Notices that arrive before a conversation's next recording starts
        # are all answered by it: one recording takes every message queued by then.
        self._latest: dict[str, asyncio.Task[None]] = {}
        self._unstarted: dict[str, list[str]] = {}

    async def start(self) -> None:
        """Joins the group (retried in the background if Redis is not there yet) and follows it."""
        try:
            await self.store.join_recorders()
        except (RedisError, OSError) as failure:
            logger.warning("recorder: Redis unavailable at start (%s); retrying", failure)
        self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()
        recordings = list(self._latest.values())
        for recording in recordings:
            recording.cancel()
        await asyncio.gather(*recordings, return_exceptions=True)
        try:  # leaves the group unless work it took is unfinished (then another takes it over)
            await self.store.forget_recorders(self.consumer)
        except (RedisError, OSError) as failure:
            logger.warning("recorder: could not leave the group (%s)", failure)

    async def _follow(self) -> None:
        joined = False
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while not self._follower.stopping:
            try:
                if not joined:
                    await self.store.join_recorders()
                    joined = True
                work = []
                if loop.time() >= next_sweep:
                    work = await self.store.stalled_recordings(self.consumer, self.retry_after_ms)
                    await self.store.forget_recorders(idle_ms=self.forget_silent_after_ms)  # died, work taken over
                    next_sweep = loop.time() + self.retry_after_ms / 2000
                work += await self.store.next_recordings(self.consumer, self.block_ms)
                for notice_id, conversation_id in work:
                    self._begin(notice_id, conversation_id)
                while len(self._latest) >= self.in_flight:
                    await asyncio.wait(list(self._latest.values()), return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as failure:
                logger.warning("recorder: Redis unavailable (%s); retrying", failure)
                joined = False
                await asyncio.sleep(self.retry_s)
            except Exception:
                logger.exception("recorder: following the queue failed; retrying")
                await asyncio.sleep(self.retry_s)

    def _begin(self, notice_id: str, conversation_id: str) -> None:
        """Records the conversation in a task of its own, after its recording in progress."""
        unstarted = self._unstarted.get(conversation_id)
        if unstarted is not None:  # a recording not started yet will take this message too
            unstarted.append(notice_id)
            return
        self._unstarted[conversation_id] = [notice_id]
        before = self._latest.get(conversation_id)
        task = asyncio.get_running_loop().create_task(self._record(conversation_id, before))
        self._latest[conversation_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._latest.get(conversation_id) is finished:
                del self._latest[conversation_id]

        task.add_done_callback(done)

    async def _record(self, conversation_id: str, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        notices = self._unstarted.pop(conversation_id)
        try:
            await self.record(conversation_id)
            await self.store.recording_done(*notices)
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            # Left unacknowledged: a recorder takes them over after `retry_after_ms`.
            logger.warning("recorder: recording %r failed (%r); will retry", conversation_id, failure)

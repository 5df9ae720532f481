"""The per-process resources of the channel: the Redis client, the store, the
live feed reader and background work. Made when the server starts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from channels.handoff.analytics import Analytics
from channels.handoff.config import HandoffConfig
from channels.handoff.feed import FeedHub
from channels.handoff.keys import KeySpace
from channels.handoff.recorder import Recorder
from channels.handoff.redis_pipe import PipelinedRedis
from channels.handoff.service import BackgroundTasks
from channels.handoff.store import HandoffStore
from channels.handoff.turns import RasaTurns

logger = logging.getLogger(__name__)


@dataclass
class HandoffRuntime:
    """Connections and tasks of one server process (no conversation state)."""

    redis: Redis
    store: HandoffStore
    hub: FeedHub
    background: BackgroundTasks
    analytics: Analytics
    recorder: Recorder | None = None
    turns: RasaTurns = field(default_factory=RasaTurns)
    periodic: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: bool = False
    ticket_lock_store: Any = None  # Rasa's lock store, when it takes customer steps with tickets

    def takes_ticket_steps(self, agent: Any) -> bool:
        """Whether `agent` (Rasa's, now) takes customer messages' steps with its lock
        tickets: its lock store is the one found on this process's Redis (ticket_step.py)."""
        return (
            self.ticket_lock_store is not None
            and getattr(agent, "lock_store", None) is self.ticket_lock_store
            and agent.is_ready()
        )

    @classmethod
    def start(cls, config: HandoffConfig) -> HandoffRuntime:
        options: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 10, "health_check_interval": 15}
        redis = (
            cast(Redis, RedisCluster.from_url(config.redis_url, **options))
            if config.redis_cluster
            else Redis.from_url(config.redis_url, **options)
        )
        # Scripts (the hot path) share one pipelined connection; a Cluster keeps redis-py.
        pipe = None if config.redis_cluster else PipelinedRedis.from_url(config.redis_url, 2, 10)
        # The live feed's blocking read (1 s at most) has a connection of its own.
        feed_pipe = None if config.redis_cluster else PipelinedRedis.from_url(config.redis_url, 2, 10)
        store = HandoffStore(
            redis, KeySpace(bot=config.bot), feed_maxlen=config.feed_maxlen, pipe=pipe, feed_pipe=feed_pipe
        )
        hub = FeedHub(store)
        hub.start()
        analytics = Analytics(store)
        analytics.start()
        return cls(redis, store, hub, BackgroundTasks(), analytics)

    def every(self, interval_s: float, work: Callable[[], Awaitable[None]], what: str) -> None:
        """Runs `work` every `interval_s` seconds until the server stops; failures are logged."""

        async def loop() -> None:
            # The flag ends the loop even when redis-py turns a cancellation into an error.
            while not self.stopping:
                await asyncio.sleep(interval_s)
                try:
                    await work()
                except Exception as failure:
                    logger.warning("%s failed: %r", what, failure)

        self.periodic.append(asyncio.get_running_loop().create_task(loop()))

    async def stop(self) -> None:
        self.stopping = True
        for task in self.periodic:
            task.cancel()
        await asyncio.gather(*self.periodic, return_exceptions=True)
        if self.recorder is not None:
            await self.recorder.stop()
        await self.hub.stop()
        await self.analytics.stop()
        await self.background.drain()
        await self.redis.close()
        for pipe in (self.store.pipe, self.store.feed_pipe):
            if pipe is not None:
                await pipe.close()
        if isinstance(self.redis, Redis):  # RedisCluster has no connection_pool
            await self.redis.connection_pool.disconnect()

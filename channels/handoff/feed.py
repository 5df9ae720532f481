"""Live feed fan-out: one reader per process follows the Redis event stream and
hands each event to the WebSockets open on this process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from channels.handoff.follower import FollowerTask
from channels.handoff.store import FeedEvent, HandoffStore

logger = logging.getLogger(__name__)


def stream_position(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


@dataclass(eq=False)
class Subscription:
    """One WebSocket's share of the feed; `dropped` when it fell too far behind.
    `accepts` (when set) picks the events this subscriber wants, so the hub does
    not wake every socket of the process for every event."""

    queue: asyncio.Queue[FeedEvent] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    dropped: bool = False
    accepts: Callable[[FeedEvent], bool] | None = None
    key: str | None = None  # whose socket it is (store.subscriber_key): served first for their events

    async def get(self) -> FeedEvent | None:
        """The next event; None once the hub dropped this subscription and the
        events queued before that are consumed. (The queue was full when the hub
        dropped it, so no waiter can miss the drop.)"""
        if self.dropped and self.queue.empty():
            return None
        return await self.queue.get()


class FeedHub:
    """Follows the event stream (XREAD BLOCK) and fans events out to queues: first
    to the sockets of the people an event is for (`FeedEvent.audience`: the customer,
    and the agent who has the conversation), then to everyone else's. (Each socket
    writes its frames in its own task, and tasks wake in the order they were handed
    an event: with twenty agents online, the one a customer is talking to would
    otherwise wait for the frames of the nineteen others.)

    While no socket on this process listens (a process that only serves the bot,
    say) the hub reads nothing: every event would wake it for no one (two wakes per
    bot message, each a Redis reply on the server's event loop). The first
    subscriber after that moves it to the stream's end before it subscribes, so it
    starts from an event no later than anything the subscriber then reads itself."""

    def __init__(self, store: HandoffStore, block_ms: int = 1000, retry_s: float = 0.2) -> None:
        self.store = store
        self.block_ms = block_ms
        self.retry_s = retry_s
        self._subscribers: set[Subscription] = set()
        self._keyed: dict[str, set[Subscription]] = {}
        self._listened = asyncio.Event()  # set while the follower reads (or is about to)
        self._last: str | None = None  # the last event read; None: read from the stream's end
        self._follower = FollowerTask(self._follow)

    async def subscribe(
        self, accepts: Callable[[FeedEvent], bool] | None = None, key: str | None = None
    ) -> Subscription:
        """A subscription to every event from now on (that `accepts` takes), served
        first for the events whose audience holds `key`. (Events from before are the
        subscriber's to read from Redis: the hub never starts after its first read.)"""
        if not self._listened.is_set():
            position: str | None
            try:
                position = await self.store.last_event_id()
            except (RedisError, OSError):
                position = self._last  # where it stopped: subscribers skip what they hold
            if not self._listened.is_set():
                self._last = position
        subscription = Subscription(accepts=accepts, key=key)
        self._subscribers.add(subscription)
        if key is not None:
            self._keyed.setdefault(key, set()).add(subscription)
        self._listened.set()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)
        if subscription.key is not None and (same := self._keyed.get(subscription.key)) is not None:
            same.discard(subscription)
            if not same:
                del self._keyed[subscription.key]

    def start(self) -> None:
        self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def _follow(self) -> None:
        while not self._follower.stopping:
            try:
                if not self._subscribers:
                    self._listened.clear()
                    await self._listened.wait()
                if self._last is None:
                    self._last = await self.store.last_event_id()
                entries = await self.store.wait_for_entries(self._last, self.block_ms)
                for entry_id, fields in entries:
                    event = FeedEvent.from_stream(entry_id, fields)
                    self._last = event.id
                    self._publish(event)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as failure:
                logger.warning("live feed: Redis unavailable (%s); retrying", failure)
                await asyncio.sleep(self.retry_s)

    def _publish(self, event: FeedEvent) -> None:
        audience = event.audience
        for key in audience:
            for subscription in list(self._keyed.get(key, ())):
                self._offer(subscription, event)
        for subscription in list(self._subscribers):
            if subscription.key is None or subscription.key not in audience:
                self._offer(subscription, event)

    def _offer(self, subscription: Subscription, event: FeedEvent) -> None:
        if subscription.accepts is not None and not subscription.accepts(event):
            return
        try:
            subscription.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A socket this far behind is dropped; its client resumes from its last id.
            subscription.dropped = True
            self.unsubscribe(subscription)

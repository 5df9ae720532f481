"""Agent messages for customers of other Rasa channels: which conversations came
through a channel (a Redis set), and the relay that follows the live feed and
hands what agents, the desk and the bot say to that channel's own output."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from channels.handoff.runtime import HandoffRuntime
from channels.handoff.store import FeedEvent

logger = logging.getLogger(__name__)
RELAYED_AUTHORS = ("agent", "system", "bot")
Deliver = Callable[[str, dict[str, Any]], Awaitable[Any]]


class ChannelMembers:
    """The conversations that arrived through one Rasa channel (a Redis set)."""

    def __init__(self, runtime: HandoffRuntime, channel: str) -> None:
        self.redis = runtime.redis
        self.key = runtime.store.keys.channel_members(channel)

    async def sadd(self, conversation_id: str) -> None:
        await self.redis.sadd(self.key, conversation_id)

    async def contains(self, conversation_id: str) -> bool:
        return bool(await self.redis.sismember(self.key, conversation_id))


RELAYED_TTL_S = 600


class Listeners:
    """The clients of a channel connected to this process (e.g. Socket.IO sockets): its
    relay follows the live feed only while there are some, so that a process nobody
    listens to leaves the feed alone (see `FeedHub`)."""

    def __init__(self) -> None:
        self.count = 0
        self._some = asyncio.Event()

    def joined(self) -> None:
        self.count += 1
        self._some.set()

    def left(self) -> None:
        self.count = max(0, self.count - 1)
        if not self.count:
            self._some.clear()

    async def wait(self) -> None:
        """Returns once a client is connected."""
        await self._some.wait()


async def relay_feed(
    runtime: HandoffRuntime,
    channel: str,
    deliver: Deliver,
    once: bool = False,
    listeners: Listeners | None = None,
    here: Callable[[str], bool] | None = None,
) -> None:
    """Until the server stops: every message of an agent, the desk or the bot (outside
    a customer's request) in a conversation of `channel` goes to `deliver(conversation,
    message)`. Every process relays: for Socket.IO the one holding the socket delivers;
    with `once` (callback), the first process to mark the message in Redis does. With
    `listeners`, it follows the feed only while clients are connected to the process;
    `here` (when given) tells a conversation this process can deliver to, before Redis."""

    def relayable(event: FeedEvent) -> bool:
        message = event.data
        return (
            event.type == "message"
            and message.get("from") in RELAYED_AUTHORS
            and message.get("delivered_by") != channel
            and (here is None or here(event.conversation_id))
        )

    members = ChannelMembers(runtime, channel)
    while not runtime.stopping:  # also ends it if redis-py swallows the cancellation
        if listeners is not None and not listeners.count:
            await listeners.wait()
        subscription = await runtime.hub.subscribe(relayable)
        try:
            while not runtime.stopping:
                event = await subscription.get()
                if event is None:
                    break  # dropped for falling behind: subscribe again
                if listeners is not None and not listeners.count:
                    break  # the last client left: the feed is no longer followed for this relay
                await _relay(runtime, channel, members, once, deliver, event)
        finally:
            runtime.hub.unsubscribe(subscription)


async def _relay(
    runtime: HandoffRuntime, channel: str, members: ChannelMembers, once: bool, deliver: Deliver, event: FeedEvent
) -> None:
    message = event.data
    try:
        if not await members.contains(event.conversation_id):
            return
        if once and not await runtime.redis.set(
            runtime.store.keys.channel_relayed(channel, str(message.get("id"))), 1, nx=True, ex=RELAYED_TTL_S
        ):
            return  # another process relays this one
    except RedisError as failure:
        logger.warning("%s relay: Redis unavailable (%r)", channel, failure)
        return
    payload = {k: v for k, v in message.items() if k not in ("id", "from", "at", "delivered_by")}
    try:
        await deliver(event.conversation_id, payload)
    except Exception as failure:  # one customer's broken output must not stop the relay
        logger.warning("%s relay: delivery to %s failed (%r)", channel, event.conversation_id, failure)

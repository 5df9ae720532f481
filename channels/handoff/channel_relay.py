"""Agent messages for customers of other Rasa channels: which conversations came
through a channel (a Redis set), and the relay that follows the live feed and
hands what agents, the desk and the bot say to that channel's own output."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from channels.handoff.runtime import HandoffRuntime

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


async def relay_feed(runtime: HandoffRuntime, channel: str, deliver: Deliver, once: bool = False) -> None:
    """Until the server stops: every message of an agent, the desk or the bot (outside
    a customer's request) in a conversation of `channel` goes to `deliver(conversation,
    message)`. Every process relays: for Socket.IO the one holding the socket delivers;
    with `once` (callback), the first process to mark the message in Redis does."""
    members = ChannelMembers(runtime, channel)
    subscription = await runtime.hub.subscribe()
    try:
        while not runtime.stopping:  # also ends it if redis-py swallows the cancellation
            event = await subscription.queue.get()
            message = event.data
            if event.type != "message" or message.get("from") not in RELAYED_AUTHORS:
                continue
            if message.get("delivered_by") == channel:
                continue
            try:
                if not await members.contains(event.conversation_id):
                    continue
                if once and not await runtime.redis.set(
                    runtime.store.keys.channel_relayed(channel, str(message.get("id"))), 1, nx=True, ex=RELAYED_TTL_S
                ):
                    continue  # another process relays this one
            except RedisError as failure:
                logger.warning("%s relay: Redis unavailable (%r)", channel, failure)
                continue
            payload = {k: v for k, v in message.items() if k not in ("id", "from", "at", "delivered_by")}
            try:
                await deliver(event.conversation_id, payload)
            except Exception as failure:  # one customer's broken output must not stop the relay
                logger.warning("%s relay: delivery to %s failed (%r)", channel, event.conversation_id, failure)
    finally:
        runtime.hub.unsubscribe(subscription)

"""The relay of agent (and desk, and out-of-request bot) messages to another Rasa
channel's customers (channels/handoff/channel_relay.py), on a real redis-server: it
follows the live feed only while that channel's clients are connected to the process,
and asks Redis nothing for a conversation the process cannot deliver to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from channels.handoff.channel_relay import ChannelMembers, Listeners, relay_feed
from channels.handoff.config import HandoffConfig
from channels.handoff.runtime import HandoffRuntime
from tests.redis_server import RedisServer
from tests.test_feed import stream_reads


@pytest.fixture
async def runtime(redis_client: Redis, redis_server: RedisServer) -> AsyncIterator[HandoffRuntime]:
    started = HandoffRuntime.start(HandoffConfig.from_dict({"redis_url": redis_server.url}))
    started.hub.block_ms = 50
    yield started
    await started.stop()


async def command_calls(redis: Redis, command: str) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_the_relay_follows_the_feed_only_while_clients_are_connected(
    runtime: HandoffRuntime, redis_client: Redis
) -> None:
    store = runtime.store
    listeners = Listeners()
    delivered: list[tuple[str, str]] = []
    in_rooms = {"widget-1"}

    async def deliver(conversation_id: str, payload: dict[str, object]) -> None:
        delivered.append((conversation_id, str(payload["text"])))

    members = ChannelMembers(runtime, "socketio")
    for conversation in ("widget-1", "widget-2"):
        await members.sadd(conversation)
        await store.receive_customer_message(conversation, "hello")
    relay = asyncio.create_task(
        relay_feed(runtime, "socketio", deliver, listeners=listeners, here=in_rooms.__contains__)
    )
    try:
        await asyncio.sleep(0.2)
        idle = await stream_reads(redis_client)
        await store.add_bot_messages("widget-1", [("unheard: nobody is connected", {})])
        await asyncio.sleep(0.3)  # six blocking reads' worth, had the feed been followed
        assert await stream_reads(redis_client) == idle and delivered == []

        listeners.joined()
        await asyncio.sleep(0.1)  # the relay subscribes
        await store.add_bot_messages("widget-1", [("Your parcel left today.", {})])
        for _ in range(100):
            if delivered:
                break
            await asyncio.sleep(0.02)
        asked = await command_calls(redis_client, "sismember")
        assert asked >= 1  # widget-1 is a client of this process: its membership was checked
        await store.add_bot_messages("widget-2", [("for a client of another process", {})])
        await asyncio.sleep(0.3)
        assert delivered == [("widget-1", "Your parcel left today.")]
        assert await command_calls(redis_client, "sismember") == asked  # widget-2: no room here, no Redis

        listeners.left()
        await store.add_bot_messages("widget-1", [("after the last client left", {})])
        await asyncio.sleep(0.3)  # that event ends the subscription; the hub then idles
        idle = await stream_reads(redis_client)
        await store.add_bot_messages("widget-1", [("unheard again", {})])
        await asyncio.sleep(0.3)
        assert await stream_reads(redis_client) == idle
        assert delivered == [("widget-1", "Your parcel left today.")]
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)

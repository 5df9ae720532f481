"""The live feed's hub (channels/handoff/feed.py) on a real redis-server: it reads
the event stream only while a subscriber listens, and a subscriber gets every
event after its own read of the stream's end, however the two interleave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from channels.handoff.feed import FeedHub, Subscription, stream_position
from channels.handoff.store import HandoffStore, subscriber_key


@pytest.fixture
async def hub(store: HandoffStore) -> AsyncIterator[FeedHub]:
    feed = FeedHub(store, block_ms=50)
    feed.start()
    yield feed
    await feed.stop()


async def stream_reads(redis: Redis) -> int:
    """XREAD calls the server has answered so far."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_xread", {}).get("calls", 0))


async def received(subscription: Subscription, count: int) -> list[str]:
    """The texts of the next `count` events of a subscription."""
    texts = []
    for _ in range(count):
        event = await asyncio.wait_for(subscription.get(), timeout=5)
        assert event is not None
        texts.append(event.data["text"])
    return texts


async def test_the_hub_reads_nothing_while_nobody_listens(
    hub: FeedHub, store: HandoffStore, redis_client: Redis
) -> None:
    await asyncio.sleep(0.2)  # the follower has started and found nobody listening
    before = await stream_reads(redis_client)
    for n in range(5):
        await store.receive_customer_message(f"c{n}", "hello")
    await asyncio.sleep(0.3)  # six blocking reads' worth
    assert await stream_reads(redis_client) == before

    subscription = await hub.subscribe()
    await store.receive_customer_message("c9", "after")
    assert await received(subscription, 1) == ["after"]  # nothing from before it subscribed
    assert await stream_reads(redis_client) > before

    hub.unsubscribe(subscription)
    await asyncio.sleep(0.2)  # the read under way ends, then the hub idles
    idle = await stream_reads(redis_client)
    await store.receive_customer_message("c9", "unheard")
    await asyncio.sleep(0.3)
    assert await stream_reads(redis_client) == idle


async def test_a_subscriber_misses_nothing_after_its_own_read_of_the_end(hub: FeedHub, store: HandoffStore) -> None:
    """Events arrive without a break while sockets come and go; each socket reads the
    stream's end after subscribing (as sockets.feed_events does) and must then be
    handed every later event, in order."""
    stop = asyncio.Event()

    async def customers() -> None:
        n = 0
        while not stop.is_set():
            await store.receive_customer_message(f"c{n % 7}", f"m{n}")
            n += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(customers())
    try:
        for _ in range(20):
            subscription = await hub.subscribe()
            start = await store.last_event_id()
            await asyncio.sleep(0.02)
            end = await store.last_event_id()
            expected = [
                e.data["text"] for e in await store.events_after(start) if stream_position(e.id) <= stream_position(end)
            ]
            assert expected, "the writer added events meanwhile"
            got: list[str] = []
            while len(got) < len(expected):
                event = await asyncio.wait_for(subscription.get(), timeout=5)
                assert event is not None
                if stream_position(event.id) > stream_position(start):
                    got.append(event.data["text"])
            assert got[: len(expected)] == expected
            hub.unsubscribe(subscription)
            await asyncio.sleep(0.07)  # long enough, at times, for the hub to go idle
    finally:
        stop.set()
        await writer


async def test_the_people_an_event_is_for_hear_it_first(hub: FeedHub, store: HandoffStore) -> None:
    """Every agent socket gets every event; sockets write in the order the hub hands
    events out. A customer's message goes to the agent who has the conversation first,
    an agent's reply to that conversation's customer first."""
    agents = [f"agent{n:02d}" for n in range(20)]
    for n, agent in enumerate(agents):
        await store.receive_customer_message(f"c{n}", "help")
        assert await store.start_waiting(f"c{n}", "nlu_fallback")
        await store.claim(f"c{n}", agent, agent.title())
    woken: list[str] = []

    async def listen(subscription: Subscription, who: str) -> None:
        while (event := await subscription.get()) is not None:
            if event.type == "message":
                woken.append(who)

    listeners = []
    for agent in reversed(agents):  # the owners subscribe last: no help from the order of subscribing
        subscription = await hub.subscribe(key=subscriber_key("agent", agent))
        listeners.append(asyncio.create_task(listen(subscription, agent)))
    customer = await hub.subscribe(lambda e: e.conversation_id == "c7", subscriber_key("conversation", "c7"))
    listeners.append(asyncio.create_task(listen(customer, "customer c7")))
    try:
        for n in (3, 11, 19):
            woken.clear()
            await store.receive_customer_message(f"c{n}", "where is my order?")
            while len(woken) < len(agents):
                await asyncio.sleep(0.01)
            assert woken[0] == agents[n] and sorted(woken) == sorted(agents)
        woken.clear()
        await store.add_agent_message("c7", "agent07", "Agent07", "It left today.")
        while len(woken) < len(agents) + 1:
            await asyncio.sleep(0.01)
        assert woken[0] == "customer c7" and sorted(woken[1:]) == sorted(agents)
    finally:
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)

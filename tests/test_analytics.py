"""Handoff analytics: the live feed counted into Redis exactly once, however many
servers run, and served as Prometheus metrics and as JSON for the console."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from channels.handoff.analytics import Analytics, normalize_text, utc_day
from channels.handoff.keys import KeySpace
from channels.handoff.store import HandoffStore, now_ms
from tests.channel_server import ChannelServer, agent_token
from tests.redis_server import RedisServer
from tests.settle import settled

ALICE = agent_token("alice")
BOB = agent_token("bob")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def stats(channel: ChannelServer, query: str = "") -> dict[str, Any]:
    status, body = await channel.request("GET", f"/agent/stats{query}", token=ALICE)
    assert status == 200, body
    return dict(body)


async def metrics(channel: ChannelServer) -> Samples:
    assert channel.http is not None
    async with channel.http.get(f"{channel.base}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def ok(channel: ChannelServer, method: str, path: str, body: Any = None, token: str = ALICE) -> Any:
    status, answer = await channel.request(method, path, body, token)
    assert 200 <= status < 300, (method, path, status, answer)
    return answer


async def transcripts(channel: ChannelServer, senders: list[str]) -> list[dict[str, Any]]:
    found = []
    for sender in senders:
        found += (await ok(channel, "GET", f"/agent/conversations/{sender}"))["transcript"]
    return found


# -- over HTTP, one server --------------------------------------------------------------


async def test_a_day_at_the_desk_is_counted(channel: ChannelServer, redis_client: Redis) -> None:
    # c1: hello, then gibberish -> fallback; Alice claims, chats, hands back.
    _, first = await channel.say("c1", "hello")
    c1 = first["customer_token"]
    await channel.hand_over("c1", c1)
    await ok(channel, "POST", "/agent/conversations/c1/claim")
    await ok(channel, "POST", "/agent/conversations/c1/messages", {"text": "Hi, Alice here."})
    await channel.say("c1", "my parcel never came", c1)
    await ok(channel, "POST", "/agent/conversations/c1/release")
    # c2 asks for a person and is still waiting.
    status, answer = await channel.say("c2", "I want a human")
    assert (status, answer["state"]) == (200, "waiting")
    # c3: the same gibberish, spelled differently, then gives up waiting.
    status, answer = await channel.say("c3", "gibberish   QWXZ!")
    assert answer["state"] == "waiting"
    status, cancelled = await channel.request("POST", "/customer/cancel", token=answer["customer_token"])
    assert (status, cancelled["state"]) == (200, "bot")
    # c4: an agent takes over from the bot, then hands back.
    await channel.say("c4", "hello")
    await ok(channel, "POST", "/agent/conversations/c4/takeover")
    await ok(channel, "POST", "/agent/conversations/c4/release")
    # c5: fallback, claimed, put back in the queue, claimed by Bob, handed back.
    await channel.say("c5", "gibberish where is my order")
    await ok(channel, "POST", "/agent/conversations/c5/claim")
    await ok(channel, "POST", "/agent/conversations/c5/transfer", {})
    await ok(channel, "POST", "/agent/conversations/c5/claim", token=BOB)
    await ok(channel, "POST", "/agent/conversations/c5/release", token=BOB)
    await settled(redis_client)

    figures = await stats(channel)
    totals = figures["totals"]
    assert totals["by_reason"] == {"fallback": 3, "request_human": 1, "takeover": 1, "recovered": 0, "other": 0}
    assert totals["handoffs"] == 5
    assert totals["customer_messages"] == {"bot": 6, "human": 1}
    assert totals["fallback_rate"] == 0.5
    assert (totals["claims"], totals["releases"], totals["requeues"], totals["transfers"]) == (3, 3, 1, 0)
    assert (totals["abandoned"], totals["abandoned_by_cause"]) == (1, {"customer": 1})
    assert totals["time_to_claim"]["count"] == 3
    assert totals["handling_time"]["count"] == 3
    everything = await transcripts(channel, ["c1", "c2", "c3", "c4", "c5"])
    assert totals["bot_messages"] == sum(m["from"] == "bot" for m in everything)
    assert totals["agent_messages"] == sum(m["from"] == "agent" for m in everything) == 1
    assert totals["events_counted"] == await redis_client.xlen(KeySpace().events)

    today = figures["today"]
    assert today["date"] == utc_day(now_ms())
    assert today["handoffs"] == 5 and today["by_reason"]["fallback"] == 3
    assert (today["claims"], today["releases"], today["abandoned"]) == (3, 3, 1)
    assert today["customer_messages_to_bot"] == 6 and today["fallback_rate"] == 0.5
    assert today["median_wait_s"] is not None and 0 <= today["median_wait_s"] < 10
    assert figures["queue"]["length"] == 1
    assert 0 <= figures["queue"]["longest_wait_s"] < 10

    top = figures["top_fallbacks"]
    assert [(t["normalized"], t["count"]) for t in top] == [("gibberish qwxz", 2), ("gibberish where is my order", 1)]
    assert (top[0]["text"], top[0]["conversation"]) == ("gibberish   QWXZ!", "c3")  # the latest occurrence
    assert top[1]["conversation"] == "c5"
    assert len((await stats(channel, "?top=1"))["top_fallbacks"]) == 1

    # The same figures in the Prometheus text format.
    samples = await metrics(channel)
    assert sample(samples, "handoff_handoffs_total", reason="fallback") == 3
    assert sample(samples, "handoff_handoffs_total", reason="request_human") == 1
    assert sample(samples, "handoff_handoffs_total", reason="takeover") == 1
    assert sample(samples, "handoff_handoffs_total", reason="recovered") == 0
    assert sample(samples, "handoff_customer_messages_total", handled_by="bot") == 6
    assert sample(samples, "handoff_customer_messages_total", handled_by="human") == 1
    assert sample(samples, "handoff_fallback_rate") == 0.5
    assert sample(samples, "handoff_queue_length") == 1
    assert sample(samples, "handoff_claims_total") == 3
    assert sample(samples, "handoff_releases_total") == 3
    assert sample(samples, "handoff_abandoned_waits_total") == 1
    assert sample(samples, "handoff_requeues_total") == 1
    for histogram in ("handoff_time_to_claim_seconds", "handoff_handling_time_seconds"):
        assert sample(samples, f"{histogram}_count") == 3
        assert sample(samples, f"{histogram}_bucket", le="+Inf") == 3
        assert 0 <= sample(samples, f"{histogram}_sum") < 30
    assert sample(samples, "handoff_time_to_claim_seconds_bucket", le="5.0") == 3  # all quick, in a test
    assert sample(samples, "handoff_analytics_events_total") == totals["events_counted"]


async def test_training_examples_added_and_exported(channel: ChannelServer, redis_client: Redis) -> None:
    await channel.hand_over("c1")
    path = "/agent/conversations/c1/training-examples"
    for _ in range(2):  # the second is a repeat (200), not a new example
        await ok(channel, "POST", path, {"text": "wheres my stuff", "intent": "order_status"})
    await ok(channel, "POST", path, {"text": "refund pls", "intent": "return_item"})
    for query in ("?format=yaml", "?format=yaml", "", "?format=json"):
        await ok(channel, "GET", f"/agent/training-examples{query}")
    status, _ = await channel.request("GET", "/agent/training-examples?format=yaml")  # refused: no token
    assert status == 401
    figures = await stats(channel)
    assert figures["training_examples"] == {"stored": 2, "added": 2, "exported": 2}
    samples = await metrics(channel)
    assert sample(samples, "handoff_training_examples") == 2
    assert sample(samples, "handoff_training_examples_added_total") == 2
    assert sample(samples, "handoff_training_exports_total") == 2


async def test_metrics_are_open_and_stats_need_an_agent(channel: ChannelServer) -> None:
    samples = await metrics(channel)  # no token, nothing counted yet: zeros, not errors
    assert sample(samples, "handoff_handoffs_total", reason="fallback") == 0
    assert sample(samples, "handoff_time_to_claim_seconds_count") == 0
    assert sample(samples, "handoff_fallback_rate") == 0
    for token in (None, "nonsense"):
        status, body = await channel.request("GET", "/agent/stats", token=token)
        assert status == 401, body
    for query in ("?top=x", "?top=-1", "?top=51"):
        status, body = await channel.request("GET", f"/agent/stats{query}", token=ALICE)
        assert (status, body["error"]) == (400, "invalid_query")
    figures = await stats(channel)
    assert figures["today"]["median_wait_s"] is None and figures["totals"]["fallback_rate"] is None
    assert figures["queue"] == {"length": 0, "oldest_waiting_since": None, "longest_wait_s": None}
    assert figures["top_fallbacks"] == []


async def test_metrics_answer_503_while_redis_is_down(channel: ChannelServer, redis_server: RedisServer) -> None:
    redis_server.kill()
    try:
        status, body = await channel.request("GET", "/metrics")
        assert (status, body["error"]) == (503, "unavailable")
    finally:
        redis_server.start()
    await channel.hand_over("c1")  # counting resumes once Redis is back
    samples = {}
    for _ in range(100):
        samples = await metrics(channel)
        if sample(samples, "handoff_handoffs_total", reason="fallback") == 1:
            break
        await asyncio.sleep(0.05)
    assert sample(samples, "handoff_handoffs_total", reason="fallback") == 1


# -- several servers on one Redis ------------------------------------------------------------


@pytest.fixture
async def second_channel(redis_server: RedisServer, channel: ChannelServer) -> AsyncIterator[ChannelServer]:
    server = ChannelServer(redis_server.url)
    await server.start()
    yield server
    await server.stop()


async def test_two_servers_count_every_event_once(
    channel: ChannelServer, second_channel: ChannelServer, redis_client: Redis
) -> None:
    servers = [channel, second_channel]
    senders = [f"c{i}" for i in range(12)]

    async def one_customer(index: int, sender: str) -> None:
        here, there = servers[index % 2], servers[(index + 1) % 2]
        await here.hand_over(sender)
        await ok(there, "POST", f"/agent/conversations/{sender}/claim")
        await ok(here, "POST", f"/agent/conversations/{sender}/messages", {"text": "hello"})
        await ok(there, "POST", f"/agent/conversations/{sender}/release")

    await asyncio.gather(*(one_customer(i, s) for i, s in enumerate(senders)))
    await settled(redis_client)

    events = await redis_client.xlen(KeySpace().events)
    first, second = await stats(channel), await stats(second_channel)
    for figures in (first, second):
        totals = figures["totals"]
        assert totals["events_counted"] == events
        assert totals["by_reason"]["fallback"] == totals["handoffs"] == 12
        assert (totals["claims"], totals["releases"], totals["agent_messages"]) == (12, 12, 12)
        assert totals["customer_messages"] == {"bot": 12, "human": 0}
        assert totals["time_to_claim"]["count"] == totals["handling_time"]["count"] == 12
        assert figures["today"]["handoffs"] == 12
        assert figures["top_fallbacks"][0]["count"] == 12
    assert first["totals"] == second["totals"]
    for samples in (await metrics(channel), await metrics(second_channel)):
        assert sample(samples, "handoff_analytics_events_total") == events
        assert sample(samples, "handoff_handoffs_total", reason="fallback") == 12
        assert sample(samples, "handoff_time_to_claim_seconds_bucket", le="+Inf") == 12


async def test_racing_counters_count_each_event_once(redis_server: RedisServer, redis_client: Redis) -> None:
    """Four processes' counters, each with its own connection, count at once while
    events arrive (as when a lease changes hands): each batch is applied once."""
    clients = [Redis.from_url(redis_server.url) for _ in range(4)]
    counters = [Analytics(HandoffStore(client), block_ms=100, batch=7) for client in clients]
    store = HandoffStore(redis_client)
    try:
        for round_ in range(3):
            names = [f"r{round_}-{i}" for i in range(10)]
            for name in names:
                await store.receive_customer_message(name, "gibberish", {})
                await asyncio.gather(*(counter.catch_up() for counter in counters))
            await asyncio.gather(
                *(store.start_waiting(name, "nlu_fallback") for name in names),
                *(counter.catch_up() for counter in counters),
            )
            await asyncio.gather(
                *(store.claim(name, "alice", "Alice") for name in names), *(counter.catch_up() for counter in counters)
            )
            await asyncio.gather(
                *(store.release(name, "alice") for name in names), *(counter.catch_up() for counter in counters)
            )
        await asyncio.gather(*(counter.catch_up() for counter in counters))
    finally:
        for client in clients:
            await client.close()
    snapshot = await Analytics(store).snapshot()
    assert snapshot.totals["events"] == await redis_client.xlen(store.keys.events)
    assert snapshot.totals["handoffs:fallback"] == snapshot.totals["claims"] == snapshot.totals["releases"] == 30
    assert snapshot.totals["customer_messages:bot"] == 30
    assert snapshot.today["handoffs"] == 30 and len(snapshot.today_waits_ms) == 30


async def test_one_process_counts_and_another_takes_over_when_it_stops(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    first, second = (Analytics(HandoffStore(client), block_ms=100, lease_ms=3000) for client in clients)
    store = HandoffStore(redis_client)
    first.start()
    try:
        await store.receive_customer_message("lead-1", "hello")
        await settled(redis_client)
        second.start()
        assert not await second.leading()  # the first holds the lease and renews it
        await first.stop()  # hands the lease on
        await store.receive_customer_message("lead-2", "hello again")
        await settled(redis_client)  # counted by the second
        assert await second.leading()
    finally:
        await first.stop()
        await second.stop()
        for client in clients:
            await client.close()
    assert (await Analytics(store).snapshot()).totals["customer_messages:bot"] == 2


# -- the counting itself, on events with known times -------------------------------------------


async def add_event(redis: Redis, at_ms: int, kind: str, conversation: str, data: dict[str, Any]) -> None:
    await redis.xadd(KeySpace().events, {"type": kind, "conv": conversation, "data": json.dumps(data)}, id=f"{at_ms}-*")


def customer_says(text: str, at_ms: int) -> dict[str, Any]:
    return {"id": f"{at_ms}-0", "from": "customer", "text": text, "data": {}, "at": at_ms}


async def test_histograms_and_state_from_the_feed_order(redis_client: Redis) -> None:
    t = 1_700_000_000_000
    day = utc_day(t)
    await add_event(redis_client, t, "message", "a", customer_says("Where is it?", t))
    await add_event(redis_client, t + 1, "waiting", "a", {
        "state": "waiting", "reason": "nlu_fallback", "waiting_since": str(t + 1), "last_message": "Where is it?",
    })  # fmt: skip
    await add_event(redis_client, t + 2, "message", "a", customer_says("hello?", t + 2))
    # Claimed 20 s after joining the queue; transferred; handed back 100 s after the claim.
    await add_event(redis_client, t + 20_001, "claimed", "a", {
        "state": "assigned", "reason": "nlu_fallback", "waiting_since": str(t + 1), "claimed_at": str(t + 20_001),
    })  # fmt: skip
    await add_event(redis_client, t + 50_000, "transferred", "a", {"state": "assigned", "claimed_at": str(t + 50_000)})
    await add_event(redis_client, t + 120_001, "released", "a", {"state": "bot", "released_at": str(t + 120_001)})
    # b: a takeover (no wait), released 30 s later; c: waits, then the sweep returns it to the bot.
    await add_event(redis_client, t + 200_000, "claimed", "b", {
        "state": "assigned", "reason": "takeover", "waiting_since": str(t + 200_000), "claimed_at": str(t + 200_000),
    })  # fmt: skip
    await add_event(redis_client, t + 230_000, "released", "b", {"state": "bot", "released_at": str(t + 230_000)})
    await add_event(redis_client, t + 300_000, "waiting", "c", {
        "state": "waiting", "reason": "request_human", "waiting_since": str(t + 300_000),
    })  # fmt: skip
    await add_event(
        redis_client, t + 400_000, "released", "c", {"state": "bot", "abandoned": True, "cause": "claim_timeout"}
    )
    await redis_client.xadd(KeySpace().events, {"type": "waiting", "conv": "d", "data": "not json"})

    store = HandoffStore(redis_client)
    analytics = Analytics(store)
    await analytics.catch_up()
    await analytics.catch_up()  # nothing new: nothing counted twice
    s = await analytics.snapshot()
    totals = s.totals
    assert totals["events"] == 10  # the broken entry is skipped
    assert totals["customer_messages:bot"] == 1 and totals["customer_messages:human"] == 1
    assert s.by_reason(totals) == {
        "fallback": 1, "request_human": 1, "takeover": 1, "recovered": 0, "other": 0,
    }  # fmt: skip
    assert (totals["claims"], totals["releases"], totals["transfers"]) == (1, 2, 1)
    assert (totals["abandoned"], totals["abandoned:claim_timeout"]) == (1, 1)

    claim = s.histogram("time_to_claim")
    assert (claim.count, claim.sum_s) == (1, 20.0)
    assert dict(claim.buckets) == {5: 0, 15: 0, 30: 1, 60: 1, 120: 1, 300: 1, 600: 1, 1800: 1, 3600: 1}
    handling = s.histogram("handling_time")
    assert (handling.count, handling.sum_s) == (2, 130.0)  # 100 s (across the transfer) and 30 s
    assert dict(handling.buckets) == {30: 1, 60: 1, 120: 2, 300: 2, 600: 2, 1200: 2, 1800: 2, 3600: 2, 7200: 2}

    per_day = {k.decode(): int(v) for k, v in (await redis_client.hgetall(store.keys.stats_day(day))).items()}
    assert per_day["handoffs"] == 3 and per_day["claims"] == 1
    assert [int(w) for w in await redis_client.lrange(store.keys.stats_day_waits(day), 0, -1)] == [20_000]
    assert await redis_client.ttl(store.keys.stats_day(day)) > 30 * 86_400
    assert await redis_client.hlen(store.keys.stats_open) == 0  # every handoff is closed
    top = await analytics._describe_fallbacks(
        await redis_client.zrevrange(store.keys.stats_fallback_texts, 0, -1, withscores=True)
    )
    assert top == [{"text": "Where is it?", "normalized": "where is it", "count": 1, "conversation": "a", "at": t + 1}]


async def test_the_fallback_texts_kept_are_capped(redis_client: Redis) -> None:
    store = HandoffStore(redis_client)
    analytics = Analytics(store, top_kept=5)
    t = 1_700_000_000_000
    for i in range(90):
        text = "often" if i % 3 == 0 else f"rare {i}"
        await add_event(redis_client, t + i, "waiting", f"c{i}", {"reason": "nlu_fallback", "last_message": text})
    await analytics.catch_up()
    assert await redis_client.zcard(store.keys.stats_fallback_texts) == 61
    await add_event(redis_client, t + 100, "waiting", "late", {"reason": "nlu_fallback", "last_message": "new one"})
    await analytics.catch_up()
    kept = await redis_client.zrevrange(store.keys.stats_fallback_texts, 0, -1, withscores=True)
    assert len(kept) == 6 and kept[0] == (b"often", 30.0) and (b"new one", 1.0) in kept
    assert await redis_client.hlen(store.keys.stats_fallback_latest) == 6


def test_texts_are_grouped_by_what_they_say() -> None:
    assert normalize_text("  Where IS my   parcel?! ") == normalize_text("where is my parcel") == "where is my parcel"
    assert normalize_text("?!") == ""
    assert len(normalize_text("x" * 5000)) == 300


async def test_the_counting_lease_is_renewed_before_it_runs_out(redis_server: RedisServer, redis_client: Redis) -> None:
    """The counter renews its lease once half of it has run, not on every batch: it
    must still hold it long after the first lease would have expired, and count."""
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    first, second = (Analytics(HandoffStore(client), block_ms=100, lease_ms=600, linger_s=0.05) for client in clients)
    store = HandoffStore(redis_client)
    first.start()
    try:
        for n in range(8):  # 2 s: more than three leases' length
            await store.receive_customer_message(f"renew-{n}", "hello")
            await asyncio.sleep(0.25)
            assert not await second.leading()
        await settled(redis_client)
        leader = await redis_client.get(store.keys.stats_leader)
        assert leader is not None and leader.decode() == first.identity
    finally:
        await first.stop()
        for client in clients:
            await client.close()
    assert (await Analytics(store).snapshot()).totals["customer_messages:bot"] == 8


async def command_calls(redis: Redis, command: str) -> int:
    """How many times this Redis has run `command`."""
    stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_a_busy_feed_is_counted_without_waiting_on_it_and_a_quiet_one_is_waited_on(
    redis_client: Redis,
) -> None:
    """While events keep coming, each batch follows the last after the linger alone: no
    round trip that waits for an event (XREAD) beside the bot's messages. A quiet feed is
    waited on, so a counter with nothing to count sleeps in Redis."""
    store = HandoffStore(redis_client)
    counter = Analytics(store, block_ms=150, linger_s=0.05)
    counter.start()
    try:
        await asyncio.sleep(0.2)
        quiet = await command_calls(redis_client, "xread")
        await asyncio.sleep(0.5)
        assert await command_calls(redis_client, "xread") - quiet >= 2  # waited on, about every 0.2 s
        busy = await command_calls(redis_client, "xread")
        batches = await command_calls(redis_client, "xrange")
        for n in range(40):  # 1.2 s of messages, one every 30 ms
            await store.receive_customer_message(f"busy-{n % 5}", "hello")
            await asyncio.sleep(0.03)
        batches = await command_calls(redis_client, "xrange") - batches
        assert batches >= 10  # counted all along
        assert (await command_calls(redis_client, "xread") - busy) * 4 <= batches  # ~1: the wait the first ended
    finally:
        await counter.stop()
    await Analytics(store).catch_up()
    assert (await Analytics(store).snapshot()).totals["customer_messages:bot"] == 40

"""The whole channel on a three-node Redis Cluster (`redis_cluster: true`): the
handoff, a claim race, chat, the live feed and release, as on a single Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.api_client import LiveSocket, is_message
from tests.channel_server import BOT_ASSIGNED, ChannelServer, agent_token
from tests.redis_cluster import RedisCluster


@pytest.fixture
async def cluster_channel(redis_cluster: RedisCluster) -> AsyncIterator[ChannelServer]:
    server = ChannelServer(redis_cluster.url, redis_cluster=True)
    await server.start()
    yield server
    await server.stop()


async def test_the_handoff_on_a_cluster(cluster_channel: ChannelServer) -> None:
    channel = cluster_channel
    alice = agent_token("alice")
    feed = await LiveSocket.open(f"{channel.ws_base}/agent/ws", alice)
    customer = await channel.hand_over("cluster-1")
    await feed.next(lambda f: f.get("event") == "waiting" and f["conversation"] == "cluster-1")
    tokens = [agent_token(f"racer-{i}") for i in range(20)]
    results = await asyncio.gather(
        *(channel.request("POST", "/agent/conversations/cluster-1/claim", token=t) for t in tokens)
    )
    assert sorted(status for status, _ in results).count(200) == 1
    winner = next(body["agent"] for status, body in results if status == 200)
    winner_token = agent_token(winner)
    assert (await channel.request("POST", "/agent/conversations/cluster-1/messages", {"text": "hi"}, winner_token))[
        0
    ] == 201
    status, answer = await channel.say("cluster-1", "thanks", customer)
    assert (status, answer["state"]) == (200, "assigned")
    await feed.next(is_message("customer", "thanks"))
    assert (await channel.request("POST", "/agent/conversations/cluster-1/release", token=winner_token))[0] == 200
    _, polled = await channel.request("GET", "/customer/messages", token=customer)
    assert [m["text"] for m in polled["messages"]][-1] == BOT_ASSIGNED
    await feed.close()

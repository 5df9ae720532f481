"""Fixtures shared by the suites: a private Redis and a store on it; for the
store's own suite, also a private three-node Redis Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as ClusterClient

from channels.handoff.keys import KeySpace
from channels.handoff.redis_pipe import PipelinedRedis
from channels.handoff.store import HandoffStore, RedisClient
from tests.api_client import ApiClient
from tests.channel_server import ChannelServer
from tests.redis_cluster import RedisCluster
from tests.redis_server import RedisServer
from tests.stack import Stack


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    if redis_server.process is None:
        redis_server.start()
    client = Redis.from_url(redis_server.url)
    await client.flushall()
    yield client
    await client.close()


@pytest.fixture
def store(redis_client: Redis) -> HandoffStore:
    return HandoffStore(redis_client)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster()
    cluster.start()
    yield cluster
    cluster.close()


@pytest.fixture(params=["single", "pipelined", "cluster"])
async def store_redis(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[RedisClient]:
    """A client of a single Redis or of the three-node cluster (emptied): the
    store's suite runs on both, and on the single Redis once more with its scripts
    on a pipelined connection (`pipes_for`). Other suites keep `redis_client`."""
    client: RedisClient
    if request.param == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        client = ClusterClient.from_url(cluster.url)
        await client.execute_command("FLUSHALL", target_nodes=ClusterClient.PRIMARIES)
    else:
        if redis_server.process is None:
            redis_server.start()
        client = Redis.from_url(redis_server.url)
        await client.flushall()
    yield client
    await client.close()


@pytest.fixture
async def channel(redis_client: Redis, redis_server: RedisServer) -> AsyncIterator[ChannelServer]:
    server = ChannelServer(redis_server.url)
    await server.start()
    # The keys a server writes on its own as it starts (its counting lease, the
    # recorders' queue): suites that count keys start once both are there.
    keys = KeySpace()
    deadline = asyncio.get_running_loop().time() + 5
    while await redis_client.exists(keys.stats_leader, keys.recordings) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the server's background work did not start"
        await asyncio.sleep(0.01)
    yield server
    await server.stop()


# -- the real system (end-to-end and browser tests share one start) ---------------


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    system = Stack(rasa_count=2)
    try:
        system.start()
        yield system
    finally:
        system.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def first(stack: Stack, http: aiohttp.ClientSession) -> ApiClient:
    return ApiClient(stack.rasa[0].handoff, http)


@pytest.fixture
def second(stack: Stack, http: aiohttp.ClientSession) -> ApiClient:
    return ApiClient(stack.rasa[1].handoff, http)


@pytest.fixture
async def pipes_for(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], PipelinedRedis | None]]:
    """Makes the pipelined connections a `store_redis` test's stores use (None
    unless the test runs as "pipelined"); each is closed after the test."""
    made: list[PipelinedRedis] = []

    def make() -> PipelinedRedis | None:
        if request.node.callspec.params.get("store_redis") != "pipelined":
            return None
        pipe = PipelinedRedis.from_url(request.getfixturevalue("redis_server").url)
        assert pipe is not None
        made.append(pipe)
        return pipe

    yield make
    for pipe in made:
        await pipe.close()

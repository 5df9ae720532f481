"""The pipelined connection on a real redis-server of its own: replies reach their
callers under concurrency, credentials and database from the URL, a killed or
silent Redis fails the waiting commands with redis-py's errors, and the next
command reconnects. (The store's whole suite also runs on it: tests/test_store.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, RedisError, ResponseError, TimeoutError

from channels.handoff.redis_pipe import PipelinedRedis, _Connection, pack_command
from tests.redis_server import RedisServer, free_port


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


def test_commands_are_packed_as_bulk_strings() -> None:
    assert pack_command(("SET", "k", 7, b"\x00v")) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n7\r\n$2\r\n\x00v\r\n"
    assert pack_command(("SET", "é", 0.5, -3)) == b"*4\r\n$3\r\nSET\r\n$2\r\n\xc3\xa9\r\n$3\r\n0.5\r\n$2\r\n-3\r\n"
    for unsendable in (None, True):
        with pytest.raises(TypeError):
            pack_command(("SET", "k", unsendable))


def test_only_plain_and_unix_urls_are_taken() -> None:
    assert PipelinedRedis.from_url("rediss://example.invalid:6380/0") is None
    plain = PipelinedRedis.from_url("redis://user:p%40ss@10.0.0.5:7000/4")
    assert plain is not None
    assert (plain.host, plain.port, plain.db, plain.username, plain.password) == ("10.0.0.5", 7000, 4, "user", "p@ss")
    unix = PipelinedRedis.from_url("unix:///run/redis.sock?db=2")
    assert unix is not None and (unix.unix_path, unix.db) == ("/run/redis.sock", 2)


async def test_each_caller_gets_its_own_reply_among_many(own_redis: RedisServer) -> None:
    pipe = PipelinedRedis.from_url(own_redis.url)
    assert pipe is not None
    await pipe.execute("SET", "text", "not a number")

    async def call(index: int) -> object:
        if index % 5 == 0:  # an error reply fails only its own caller
            with pytest.raises(ResponseError):
                await pipe.execute("INCR", "text")
            return "refused"
        return await pipe.execute("ECHO", f"caller {index}")

    # Callers cancelled while waiting must not shift the replies of the others.
    doomed = [asyncio.ensure_future(pipe.execute("GET", "text")) for _ in range(50)]
    results = asyncio.gather(*(call(i) for i in range(600)))
    await asyncio.sleep(0)
    for task in doomed:
        task.cancel()
    answers = await results
    assert answers == ["refused" if i % 5 == 0 else f"caller {i}".encode() for i in range(600)]
    assert await pipe.execute("GET", "text") == b"not a number"
    await pipe.close()


async def test_credentials_and_database_come_from_the_url(own_redis: RedisServer) -> None:
    admin = Redis.from_url(own_redis.url)
    await admin.config_set("requirepass", "s3cret")
    await admin.close()
    pipe = PipelinedRedis.from_url(f"redis://:s3cret@127.0.0.1:{own_redis.port}/3")
    assert pipe is not None
    await pipe.execute("SET", "where", "db3")
    check = Redis(port=own_redis.port, password="s3cret", db=3)
    assert await check.get("where") == b"db3"
    await check.close()
    wrong = PipelinedRedis.from_url(f"redis://:wrong@127.0.0.1:{own_redis.port}/3")
    assert wrong is not None
    with pytest.raises(RedisError):
        await wrong.execute("GET", "where")
    await pipe.close()


async def test_a_command_on_a_connection_lost_before_it_was_sent_fails_at_once() -> None:
    # Redis may drop a connection between its opening and the first command on it (a
    # restart): nothing would ever answer that command, so it fails rather than waits.
    connection = _Connection()
    connection.connection_lost(None)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(connection.send(pack_command(("PING",))), 1)


async def test_a_killed_redis_fails_the_waiting_and_the_next_command_reconnects(own_redis: RedisServer) -> None:
    pipe = PipelinedRedis.from_url(own_redis.url)
    assert pipe is not None
    await pipe.execute("SET", "k", "before")
    blocked = asyncio.ensure_future(pipe.execute("BLPOP", "nothing", 0))  # waits until Redis dies
    await asyncio.sleep(0.1)
    own_redis.kill()
    with pytest.raises(ConnectionError):
        await blocked
    with pytest.raises(ConnectionError):  # refused while Redis is down
        await pipe.execute("GET", "k")
    own_redis.start()
    assert await pipe.execute("PING") == b"PONG"
    await pipe.close()


async def test_a_silent_redis_times_out_and_the_connection_is_replaced() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read(1 << 16)  # takes the command, never answers

    port = free_port()
    server = await asyncio.start_server(silent, "127.0.0.1", port)
    pipe = PipelinedRedis("127.0.0.1", port, reply_timeout_s=0.3)
    began = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        await pipe.execute("PING")
    assert 0.25 <= asyncio.get_running_loop().time() - began < 2
    with pytest.raises(TimeoutError):
        await pipe.execute("PING")
    assert len(connections) == 2  # the silent connection was dropped, a new one made
    await pipe.close()
    server.close()
    for writer in connections:
        writer.close()
    await server.wait_closed()


async def test_nobody_listening_is_a_connection_error() -> None:
    pipe = PipelinedRedis("127.0.0.1", free_port(), connect_timeout_s=1)
    with pytest.raises(ConnectionError):
        await pipe.execute("PING")


async def test_callers_waiting_for_a_connection_share_one_attempt() -> None:
    """A Redis that takes connections and never answers the handshake: fifty callers
    are all refused after one handshake timeout, not one after another."""
    connections: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read(1 << 16)

    port = free_port()
    server = await asyncio.start_server(mute, "127.0.0.1", port)
    pipe = PipelinedRedis.from_url(f"redis://:secret@127.0.0.1:{port}/0", connect_timeout_s=0.3)
    assert pipe is not None
    began = asyncio.get_running_loop().time()
    outcomes = await asyncio.gather(*(pipe.execute("PING") for _ in range(50)), return_exceptions=True)
    assert all(isinstance(outcome, RedisError) for outcome in outcomes)
    assert asyncio.get_running_loop().time() - began < 1.5
    assert len(connections) == 1
    await pipe.close()
    server.close()
    for writer in connections:
        writer.close()
    await server.wait_closed()


async def test_a_script_started_at_once_runs_while_its_caller_still_works(own_redis: RedisServer) -> None:
    import redis as sync_redis

    pipe = PipelinedRedis.from_url(own_redis.url)
    assert pipe is not None
    observer = sync_redis.Redis.from_url(own_redis.url)
    script = "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])"
    assert await pipe.run_script(script, ["warm-up"], ["x"]) == 1  # connected, the script loaded

    queued = asyncio.ensure_future(pipe.execute("RPUSH", "order", "queued first"))
    await asyncio.sleep(0)  # its command waits for the loop's next turn to be written
    later = pipe.execute("RPUSH", "order", "queued later")  # not awaited yet: nothing sent
    first = pipe.start_script(script, ["order"], ["at once"])
    # Without yielding (Rasa at work), Redis has run it, after what was queued before it.
    for _ in range(200):
        if observer.llen("order") >= 2:
            break
        time.sleep(0.005)
    assert observer.lrange("order", 0, -1) == [b"queued first", b"at once"]
    assert await first == 2
    assert await queued == 1 and await later == 3
    assert observer.lrange("order", 0, -1) == [b"queued first", b"at once", b"queued later"]

    # A Redis that does not know the script yet (restarted, flushed) gets it loaded.
    observer.script_flush()
    assert await pipe.start_script(script, ["order"], ["after a flush"]) == 4
    # Not connected yet: the call connects when awaited.
    fresh = PipelinedRedis.from_url(own_redis.url)
    assert fresh is not None
    assert await fresh.start_script(script, ["order"], ["fresh"]) == 5
    await pipe.close()
    await fresh.close()
    observer.close()

"""Recording the human part in the tracker, from the queue in Redis: in order,
by another process when this one does not record, before the bot resumes, and
taken over when a recorder fails or dies. (Real Redis; the Rasa side is the test
bridge here, and the real one in tests/test_e2e.py.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from channels.handoff.keys import KeySpace
from channels.handoff.recorder import Recorder
from channels.handoff.store import RECORDERS, HandoffStore
from tests.channel_server import ChannelServer, agent_token
from tests.redis_server import RedisServer

ALICE = agent_token("alice")


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def eventually_async(read: Callable[[], Awaitable[int]], expected: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := await read()) != expected:
        assert time.monotonic() < deadline, f"{got} != {expected}"
        await asyncio.sleep(0.02)


async def chat(server: ChannelServer, sender: str, turns: int) -> list[tuple[str, str]]:
    """Hands a customer over, has alice claim them and both write `turns` times; returns
    the messages of the human part in the order sent."""
    customer = await server.hand_over(sender)
    assert (await server.request("POST", f"/agent/conversations/{sender}/claim", token=ALICE))[0] == 200
    sent = []
    for turn in range(turns):
        assert (await server.say(sender, f"customer {turn}", customer))[0] == 200
        path = f"/agent/conversations/{sender}/messages"
        assert (await server.request("POST", path, {"text": f"agent {turn}"}, ALICE))[0] == 201
        sent += [("customer", f"customer {turn}"), ("agent", f"agent {turn}")]
    return sent


async def test_a_process_that_does_not_record_leaves_it_to_one_that_does(
    redis_client: Redis, redis_server: RedisServer
) -> None:
    front = ChannelServer(redis_server.url, recorder=False)
    back = ChannelServer(redis_server.url)
    await front.start()
    await back.start()
    try:
        sent = await chat(front, "rec-1", 4)
        await eventually(lambda: len(back.bridge.timeline) == len(sent))
        assert [(kind, text) for _, kind, text in back.bridge.timeline] == sent
        assert front.bridge.timeline == []
        # Agents see the bot's reading of each customer message (from the recording).
        status, conversation = await front.request("GET", "/agent/conversations/rec-1", token=ALICE)
        readings = [m.get("reading") for m in conversation["transcript"] if m["text"].startswith("customer ")]
        assert status == 200 and all(r and r["intent"] == "order_status" for r in readings), readings
        keys = KeySpace()
        assert await redis_client.llen(keys.recording("rec-1")) == 0
        await eventually_async(lambda: redis_client.xlen(keys.recordings), 0)
    finally:
        await front.stop()
        await back.stop()


async def test_release_records_what_is_left_before_the_bot_resumes(
    redis_client: Redis, redis_server: RedisServer
) -> None:
    server = ChannelServer(redis_server.url, recorder=False)  # nobody records in the background
    await server.start()
    try:
        sent = await chat(server, "rec-2", 2)
        assert server.bridge.timeline == []
        assert (await server.request("POST", "/agent/conversations/rec-2/release", token=ALICE))[0] == 200
        timeline = [(kind, text) for conversation, kind, text in server.bridge.timeline if conversation == "rec-2"]
        assert timeline == [*sent, ("action", "action_bot_assigned")]
    finally:
        await server.stop()


async def test_a_failed_or_dead_recorder_s_work_is_taken_over(redis_client: Redis) -> None:
    store = HandoffStore(redis_client)
    await store.receive_customer_message("rec-3", "hello")
    assert await store.start_waiting("rec-3", "nlu_fallback")
    recorded: list[str] = []
    attempts: list[str] = []

    def recording(fails: bool) -> Callable[[str], Awaitable[None]]:
        async def record(conversation_id: str) -> None:
            attempts.append(conversation_id)
            if fails:
                raise RuntimeError("the assistant is not ready")
            batch = await store.pending_recordings(conversation_id)
            recorded.extend(message.text for message, _ in batch.messages)
            await store.forget_recordings(conversation_id, batch)

        return record

    failing = Recorder(store, recording(fails=True), block_ms=100, retry_after_ms=400)
    await failing.start()
    await store.receive_customer_message("rec-3", "are you there?")
    await eventually(lambda: len(attempts) == 1)
    await failing.stop()  # it failed, then died: its notice is still pending
    pending = await redis_client.xpending(store.keys.recordings, RECORDERS)
    assert pending["pending"] == 1 and recorded == []

    async def members() -> list[str]:
        found = await redis_client.xinfo_consumers(store.keys.recordings, RECORDERS)
        return sorted(c["name"].decode() for c in found)

    assert await members() == [failing.consumer]  # it stopped with work unfinished: it stays for now
    healthy = Recorder(store, recording(fails=False), block_ms=100, retry_after_ms=400, forget_silent_after_ms=600)
    await healthy.start()
    await eventually(lambda: recorded == ["are you there?"])
    await asyncio.sleep(0.3)
    assert (await redis_client.xpending(store.keys.recordings, RECORDERS))["pending"] == 0
    assert await redis_client.xlen(store.keys.recordings) == 0
    # Its work taken over and silent long enough, the dead one is forgotten by the sweep.
    deadline = time.monotonic() + 5
    while await members() != [healthy.consumer] and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert await members() == [healthy.consumer]
    await healthy.stop()
    assert await members() == []  # a recorder that stops with nothing unfinished leaves
    assert recorded == ["are you there?"]  # once


async def test_a_conversation_waiting_for_its_lock_holds_up_no_other(redis_client: Redis) -> None:
    store = HandoffStore(redis_client)
    for conversation in ("stuck", "free"):
        await store.receive_customer_message(conversation, "hello")
        assert await store.start_waiting(conversation, "nlu_fallback")
    release_stuck = asyncio.Event()
    recorded: list[str] = []
    active: dict[str, int] = {}
    overlaps: list[str] = []

    async def record(conversation_id: str) -> None:
        active[conversation_id] = active.get(conversation_id, 0) + 1
        if active[conversation_id] > 1:
            overlaps.append(conversation_id)
        try:
            if conversation_id == "stuck":
                await release_stuck.wait()  # as a lock held by a process that died
            await asyncio.sleep(0.01)
            batch = await store.pending_recordings(conversation_id)
            recorded.extend(message.text for message, _ in batch.messages)
            await store.forget_recordings(conversation_id, batch)
        finally:
            active[conversation_id] -= 1

    recorder = Recorder(store, record, block_ms=100)
    await recorder.start()
    try:
        await store.receive_customer_message("stuck", "stuck 1")
        for turn in range(3):
            await store.receive_customer_message("free", f"free {turn}")
        await store.receive_customer_message("stuck", "stuck 2")
        await eventually(lambda: recorded == ["free 0", "free 1", "free 2"] or len(recorded) >= 3)
        assert recorded[:3] == ["free 0", "free 1", "free 2"]  # while "stuck" still waits
        release_stuck.set()
        await eventually(lambda: len(recorded) == 5)
        assert recorded[3:] == ["stuck 1", "stuck 2"]
        assert overlaps == []  # one conversation's notices one after another
    finally:
        await recorder.stop()

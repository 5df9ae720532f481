"""The atomic lock store on a real Redis: tickets from many processes at once are
never lost (Rasa's own store loses some: see channels/handoff/lock_store.py),
holders take turns, the lock goes with its last ticket, and a waiter whose
ticket is gone is told so instead of waiting forever."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError
from redis import Redis

from channels.handoff.lock_store import AtomicRedisLockStore
from tests.redis_server import RedisServer


def lock_store(server: RedisServer) -> AtomicRedisLockStore:
    return AtomicRedisLockStore(host="127.0.0.1", port=server.port, db=0, key_prefix="lock")


def test_tickets_issued_at_once_by_many_processes_are_all_kept(redis_server: RedisServer) -> None:
    Redis(port=redis_server.port).flushall()
    stores = [lock_store(redis_server) for _ in range(4)]  # as four processes
    issued: list[int] = []

    def issue(store: AtomicRedisLockStore) -> None:
        for _ in range(50):
            issued.append(store.issue_ticket("c1", 60))

    threads = [threading.Thread(target=issue, args=(store,)) for store in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lock = stores[0].get_lock("c1")
    assert lock is not None
    assert sorted(issued) == list(range(400))
    assert [ticket.number for ticket in lock.tickets] == list(range(400))
    for number in issued:
        stores[number % 4].cleanup("c1", number)
    assert stores[0].get_lock("c1") is None  # gone with its last ticket


def test_holders_take_turns_across_processes(redis_server: RedisServer) -> None:
    Redis(port=redis_server.port).flushall()
    stores = [lock_store(redis_server) for _ in range(3)]
    inside: list[int] = []
    order: list[tuple[str, int]] = []

    async def hold(index: int) -> None:
        async with stores[index % 3].lock("c2", wait_time_in_seconds=0.01):
            inside.append(index)
            assert len(inside) == 1, "two holders at once"
            order.append(("in", index))
            await asyncio.sleep(0.01)
            inside.remove(index)

    async def main() -> None:
        await asyncio.gather(*(hold(i) for i in range(12)))

    asyncio.run(main())
    assert sorted(i for _, i in order) == list(range(12))
    assert stores[0].get_lock("c2") is None


def test_a_waiter_whose_ticket_is_gone_is_refused_not_left_waiting(redis_server: RedisServer) -> None:
    Redis(port=redis_server.port).flushall()
    store = lock_store(redis_server)

    async def main() -> None:
        async with store.lock("c3", wait_time_in_seconds=0.01):
            waiter = asyncio.ensure_future(store.lock("c3", wait_time_in_seconds=0.01).__aenter__())
            await asyncio.sleep(0.05)
            assert not waiter.done()  # its turn has not come
            # Its ticket disappears (e.g. it expired while the holder worked).
            raw = json.loads(Redis(port=redis_server.port).get("lock:lock:c3") or "{}")
            raw["tickets"] = raw["tickets"][:1]
            Redis(port=redis_server.port).set("lock:lock:c3", json.dumps(raw))
            with pytest.raises(LockError):
                await asyncio.wait_for(waiter, 2)

    asyncio.run(main())


def test_expired_tickets_are_dropped_when_a_new_one_is_issued(redis_server: RedisServer) -> None:
    Redis(port=redis_server.port).flushall()
    store = lock_store(redis_server)
    assert store.issue_ticket("c4", -1) == 0  # expired at once (a holder that died)
    assert store.issue_ticket("c4", 60) == 0  # the dead one's ticket no longer blocks anybody
    lock = store.get_lock("c4")
    assert lock is not None and [t.number for t in lock.tickets] == [0] and not lock.is_locked(0)


def test_a_ticket_issued_with_no_other_held_is_served_without_reading_the_lock(redis_server: RedisServer) -> None:
    Redis(port=redis_server.port).flushall()
    store = lock_store(redis_server)
    reads: list[str] = []
    read_lock = store.get_lock

    def counted_read(conversation_id: str) -> TicketLock | None:
        reads.append(conversation_id)
        return read_lock(conversation_id)

    store.get_lock = counted_read  # type: ignore[method-assign]

    async def main() -> None:
        async with store.lock("c5", wait_time_in_seconds=0.01) as first:
            assert [t.number for t in first.tickets] == [0] and not first.is_locked(0)
            assert reads == []  # served at once
            waiter = asyncio.ensure_future(store.lock("c5", wait_time_in_seconds=0.01).__aenter__())
            await asyncio.sleep(0.05)
            assert not waiter.done() and reads  # ticket 1 reads the lock and waits for its turn
        second = await asyncio.wait_for(waiter, 2)
        assert [t.number for t in second.tickets] == [1]
        store.cleanup("c5", 1)
        read_before = len(reads)
        async with store.lock("c5", wait_time_in_seconds=0.01) as third:  # the lock went: 0 again, alone
            assert [t.number for t in third.tickets] == [0] and len(reads) == read_before

    asyncio.run(main())
    assert store.get_lock("c5") is None

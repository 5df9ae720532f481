"""Rasa's Redis lock store with atomic tickets.

Rasa 3.6's `RedisLockStore` issues and returns tickets by reading the lock,
changing it in Python and writing it back. Two processes (or two threads) doing
that at once can overwrite each other's ticket: the lost ticket's holder then
waits forever, since the lock never serves a number it no longer holds (seen
here as a conversation whose requests hung until the client gave up). This
store makes each change one Lua script, and a waiter whose ticket is gone gets
a `LockError` (the API's 503) instead of waiting forever. A ticket issued while no
other was held (number 0: the script numbers on from the last held) is served at once,
without reading the lock back: one round trip per message fewer than Rasa's.

When the handoff channel has a customer message's own Redis step waiting for the
ticket (channels/handoff/ticket_step.py), the ticket is taken in that step's script:
one round trip for both; and given back in the script that stores the bot's replies.
When the tracker store shares the Redis too (`reads_trackers_at`), a ticket served at
once brings the conversation's tracker with it (ticket_step.py).

Use it in endpoints.yml: `lock_store: type: channels.handoff.lock_store.AtomicRedisLockStore`
with the same settings as `type: redis`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError

from channels.handoff import ticket_step


def _script(name: str) -> str:
    folder = resources.files("channels.handoff") / "lua" / "lock"
    return (folder / "ticket.lua").read_text() + "\n" + (folder / f"{name}.lua").read_text()


class AtomicRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose tickets are issued, returned and expired atomically."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **settings: Any) -> None:
        if endpoint_config is not None:
            settings = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **settings}
        super().__init__(**settings)
        self._issue = self.red.register_script(_script("issue_ticket"))
        self._finish = self.red.register_script(_script("finish_serving"))
        self._expire = self.red.register_script(_script("remove_expired"))
        self._alone: dict[str, float] = {}  # conversation -> expiry of its ticket 0, until served
        self._tracker_prefix: str | None = None  # where the trackers are, when read with tickets

    def reads_trackers_at(self, key_prefix: str | None) -> None:
        """A customer message's step (ticket_step.py) reads the conversation's tracker at
        `key_prefix` + its id with a ticket served at once (None: it does not)."""
        self._tracker_prefix = key_prefix

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        now = time.time()
        args = [conversation_id, repr(now + lock_lifetime), repr(now)]
        step = ticket_step.take(conversation_id)
        try:
            if step is not None:
                tracker_key = None if self._tracker_prefix is None else self._tracker_prefix + conversation_id
                number = step.issue(self.red, self.key_prefix + conversation_id, args, tracker_key, now + lock_lifetime)
            else:
                number = int(self._issue(keys=[self.key_prefix + conversation_id], args=args))
        except Exception as failure:  # as Rasa's own: the caller handles LockError
            if step is not None and step.answered:
                raise  # the step's outcome (its refusal, NotForRasa) goes up as it is
            raise LockError(f"Error while acquiring lock. Error:\n{failure}") from failure
        if number == 0:  # no other ticket held: first in line
            self._alone[conversation_id] = now + lock_lifetime
        return number

    def holds(self, key: str) -> bool:
        """Whether this store's Redis (and database) has `key`: the handoff channel's
        check that it shares the Redis before it hands its steps to the tickets."""
        return reaches(self.red, key)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._finish(keys=[self.key_prefix + conversation_id], args=[ticket_number])

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Returns the ticket; the lock goes when nobody else holds one (one step, with the
        bot's replies to the message when the handoff channel holds them for it)."""
        step = ticket_step.returning(conversation_id, ticket_number)
        if step is not None:
            step.give_back(self.red, self.key_prefix + conversation_id)
        else:
            self.finish_serving(conversation_id, ticket_number)

    def update_lock(self, conversation_id: str) -> None:
        self._expire(keys=[self.key_prefix + conversation_id], args=[time.time()])

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        """Waits for the ticket's turn, as Rasa's does; a ticket that is no longer
        held (it expired while waiting) ends the wait with LockError. Ticket 0, just
        issued with no other held, is served without reading the lock."""
        expires = self._alone.pop(conversation_id, None)
        if ticket == 0 and expires is not None:
            return TicketLock(conversation_id, deque([Ticket(0, expires)]))
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or all(held.number != ticket for held in lock.tickets):
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            self.update_lock(conversation_id)


def reaches(red: Any, key: str) -> bool:
    """Whether the synchronous client `red` finds `key` (False when Redis is out of reach):
    a Rasa store's check that it shares the handoff channel's Redis and database."""
    try:
        return bool(red.exists(key))
    except (RedisError, OSError):
        return False


async def sharing_redis(agent: Any, place_marker: Callable[[], Awaitable[str]]) -> AtomicRedisLockStore | None:
    """`agent`'s lock store if it is this module's store and reaches the Redis (and
    database) where `place_marker` leaves a key: the handoff channel's steps may then
    be taken with its tickets (ticket_step.py). Otherwise None."""
    lock_store = getattr(agent, "lock_store", None)
    if not isinstance(lock_store, AtomicRedisLockStore):
        return None
    try:
        marker = await place_marker()
    except (RedisError, OSError):
        return None
    return lock_store if lock_store.holds(marker) else None

"""Rasa's Redis lock store with atomic tickets.

Rasa 3.6's `RedisLockStore` issues and returns tickets by reading the lock,
changing it in Python and writing it back. Two processes (or two threads) doing
that at once can overwrite each other's ticket: the lost ticket's holder then
waits forever, since the lock never serves a number it no longer holds (seen
here as a conversation whose requests hung until the client gave up). This
store makes each change one Lua script, and a waiter whose ticket is gone gets
a `LockError` (the API's 503) instead of waiting forever.

Use it in endpoints.yml: `lock_store: type: channels.handoff.lock_store.AtomicRedisLockStore`
with the same settings as `type: redis`.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig


def _script(name: str) -> str:
    return (resources.files("channels.handoff") / "lua" / "lock" / f"{name}.lua").read_text()


class AtomicRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose tickets are issued, returned and expired atomically."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **settings: Any) -> None:
        if endpoint_config is not None:
            settings = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **settings}
        super().__init__(**settings)
        self._issue = self.red.register_script(_script("issue_ticket"))
        self._finish = self.red.register_script(_script("finish_serving"))
        self._expire = self.red.register_script(_script("remove_expired"))

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        expires = repr(time.time() + lock_lifetime)
        try:
            number = self._issue(keys=[self.key_prefix + conversation_id], args=[conversation_id, expires, time.time()])
        except Exception as failure:  # as Rasa's own: the caller handles LockError
            raise LockError(f"Error while acquiring lock. Error:\n{failure}") from failure
        return int(number)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._finish(keys=[self.key_prefix + conversation_id], args=[ticket_number])

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Returns the ticket; the lock goes when nobody else holds one (one step)."""
        self.finish_serving(conversation_id, ticket_number)

    def update_lock(self, conversation_id: str) -> None:
        self._expire(keys=[self.key_prefix + conversation_id], args=[time.time()])

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        """Waits for the ticket's turn, as Rasa's does; a ticket that is no longer
        held (it expired while waiting) ends the wait with LockError."""
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or all(held.number != ticket for held in lock.tickets):
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket):
                return lock
            await asyncio.sleep(wait_time_in_seconds)
            self.update_lock(conversation_id)

"""A bot message's Redis step taken together with its ticket for Rasa's lock.

Before Rasa handles a message it takes a ticket for the conversation's lock: a Redis
round trip. The handoff channel's own step for a customer message (let in, stored,
the conversation's state and the desk's live settings read) is another, before Rasa.
When Rasa's lock store is `lock_store.AtomicRedisLockStore` on the channel's Redis,
the channel hands the message to Rasa with its step waiting here (`waiting`), and the
lock store runs the step and the ticket as one Lua script
(lua/customer_message_ticket.lua) when Rasa asks for the ticket: one round trip instead
of two, and the step still comes first, in Redis and before Rasa reads the tracker.

A ticket is taken only for a message the bot is to answer now. Otherwise (refused, a
human has the conversation, a return to the bot left to finish) the lock store raises
`NotForRasa` (or the step's refusal) from Rasa's first call, before Rasa changed
anything, and the channel goes on as it would have after its own step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from channels.handoff.redis_pipe import script_sha


class SyncScripts(Protocol):
    """What the step needs of a synchronous redis-py client (the lock store's)."""

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: str) -> Any: ...

    def script_load(self, script: str) -> Any: ...


class NotForRasa(Exception):
    """The message's step took no ticket: Rasa is not to handle the message now."""


@dataclass
class TicketStep:
    """One customer message's step, waiting for Rasa's call for its ticket."""

    conversation_id: str
    source: str  # the Lua script: the step, then the ticket (lua/customer_message_ticket.lua)
    keys: list[str]
    args: list[str]
    took: Callable[[Any], None]  # handed the step's own answer (may raise its refusal)
    taken: bool = False  # Rasa asked for the ticket
    answered: bool = False  # Redis ran the script

    def issue(self, redis: SyncScripts, lock_key: str, ticket_args: list[str]) -> int:
        """Runs the step and the ticket in one script; the ticket's number, or raises."""
        self.taken = True
        ticket, answer = run_script(redis, self.source, [*self.keys, lock_key], [*self.args, *ticket_args])
        self.answered = True
        self.took(answer)
        if int(ticket) < 0:
            raise NotForRasa(self.conversation_id)
        return int(ticket)


_waiting: ContextVar[TicketStep | None] = ContextVar("handoff_ticket_step", default=None)


@contextmanager
def waiting(step: TicketStep) -> Iterator[TicketStep]:
    """`step` waits for its conversation's next ticket in this context (Rasa's handling
    of the message, awaited by the caller)."""
    token = _waiting.set(step)
    try:
        yield step
    finally:
        _waiting.reset(token)


def take(conversation_id: str) -> TicketStep | None:
    """The step waiting for `conversation_id`'s ticket here, if any (taken once: a
    task Rasa starts meanwhile copies the context, not the step's use)."""
    step = _waiting.get()
    if step is None or step.taken or step.conversation_id != conversation_id:
        return None
    return step


def run_script(redis: SyncScripts, source: str, keys: list[str], args: list[str]) -> Any:
    """EVALSHA, loading the script first if this Redis does not know it yet."""
    sha = script_sha(source)  # hashed once per source, not per message
    try:
        return redis.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        redis.script_load(source)
        return redis.evalsha(sha, len(keys), *keys, *args)

"""A bot message's Redis step taken together with its ticket for Rasa's lock.

Before Rasa handles a message it takes a ticket for the conversation's lock: a Redis
round trip. The handoff channel's own step for a customer message (let in, stored,
the conversation's state and the desk's live settings read) is another, before Rasa.
When Rasa's lock store is `lock_store.AtomicRedisLockStore` on the channel's Redis,
the channel hands the message to Rasa with its step waiting here (`waiting`), and the
lock store runs the step and the ticket as one Lua script
(lua/customer_message_ticket.lua) when Rasa asks for the ticket: one round trip instead
of two, and the step still comes first, in Redis and before Rasa reads the tracker.
A ticket served at once (no other held) makes the conversation's tracker Rasa's alone
until the ticket goes back: nobody else changes it meanwhile (they would need the lock).
When Rasa's tracker store is `tracker_store.MergingRedisTrackerStore` on the same Redis,
the script reads the tracker too, and from then on the tracker store knows what is stored
(`locked_tracker`: as read, then as it saved it): Rasa's load and its save (which merges
with what is stored) each skip a round trip to read it.

When Rasa gives the ticket back, after its handling, the bot's replies to the message
(held by the channel meanwhile, see `ReplyRelease`) are stored in the same script
(lua/bot_messages_release.lua): the answer then goes out with no round trip of its own
after Rasa. Rasa's save of a tracker read with the ticket, which comes just before, is
held for that script too (`saves_with_return`): one round trip fewer inside Rasa, and
written on its own should the script fail. Should Rasa wait for something in the middle
(a custom action on the action server), the replies held so far are stored at once, so
the customer's socket shows them while it waits.

A message let in while others were ahead of it in Rasa's line (its step taken at once,
see service.py) takes a bare ticket the same way when its turn comes
(lua/bot_ticket.lua): the ticket, the tracker with it, and the replies with its return.

A ticket is taken only for a message the bot is to answer now. Otherwise (refused, a
human has the conversation, a return to the bot left to finish) the lock store raises
`NotForRasa` (or the step's refusal) from Rasa's first call, before Rasa changed
anything, and the channel goes on as it would have after its own step.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from channels.handoff.redis_pipe import script_sha

logger = logging.getLogger(__name__)


class SyncScripts(Protocol):
    """What the step needs of a synchronous redis-py client (the lock store's)."""

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: str) -> Any: ...

    def script_load(self, script: str) -> Any: ...


class NotForRasa(Exception):
    """The message's step took no ticket: Rasa is not to handle the message now."""


@dataclass
class ReplyRelease:
    """The bot's replies to one message, held for the return of the message's ticket."""

    source: str  # the Lua script: the replies, then the ticket's return (lua/bot_messages_release.lua)
    held: Callable[[], tuple[list[str], list[str]]]  # the keys and arguments of the replies held now
    stored: Callable[[list[str]], None]  # handed the held replies' transcript ids
    store_now: Callable[[], None]  # Rasa is about to wait: the held replies are stored at once
    done: bool = False  # the ticket was given back (the replies with it)


HOLD_MARGIN_S = 5.0  # a ticket this close to its expiry is no longer trusted to hold the lock


@dataclass
class TrackerSave:
    """Rasa's save of a tracker, held for the return of the ticket that holds its lock."""

    serialised: str
    expires_in: int | None  # seconds (None: kept)
    write_alone: Callable[[], None]  # the tracker store's own write, should the return fail

    def args(self) -> list[str]:
        return [self.serialised, str(self.expires_in or "")]


@dataclass
class LockedTracker:
    """A conversation's tracker as stored while this step's ticket, served at once, holds
    its lock: as read with the ticket, then as the tracker store saved it."""

    key: str
    stored: bytes | str | None  # None: no tracker stored
    holds_until: float  # the ticket's expiry (time.time())
    known: bool = True  # False while a save's outcome is not known (it failed half-way)
    events: list[dict[str, Any]] | None = None  # the stored events, once decoded (None: not yet)
    unsaved: TrackerSave | None = None  # Rasa's latest save, to be written with the ticket's return

    def stored_events(self) -> list[dict[str, Any]]:
        """The stored tracker's events as dicts, decoded once for the load and the save."""
        if self.events is None:
            self.events = tracker_events(self.stored) if self.stored is not None else []
        return self.events


def tracker_events(stored: bytes | str) -> list[dict[str, Any]]:
    """The events of a tracker as Rasa's Redis tracker store serialises it, as dicts."""
    events: list[dict[str, Any]] = json.loads(stored).get("events", [])
    return events


@dataclass
class TicketStep:
    """One customer message's step, waiting for Rasa's call for its ticket."""

    conversation_id: str
    source: str  # the Lua script: the step, then the ticket (lua/customer_message_ticket.lua)
    keys: list[str]
    args: list[str]
    took: Callable[[Any], None]  # handed the step's own answer (may raise its refusal)
    replies: ReplyRelease | None = None  # the bot's replies, stored with the ticket's return
    taken: bool = False  # Rasa asked for the ticket
    answered: bool = False  # Redis ran the script
    ticket: int | None = None  # the ticket taken
    tracker: LockedTracker | None = None  # the tracker read with a ticket served at once

    @property
    def holds_replies(self) -> bool:
        """The bot's replies are held for this step's ticket's return, still to come."""
        return self.replies is not None and not self.replies.done

    def issue(
        self,
        redis: SyncScripts,
        lock_key: str,
        ticket_args: list[str],
        tracker_key: str | None = None,
        holds_until: float = 0.0,
    ) -> int:
        """Runs the step and the ticket in one script (and reads the tracker at `tracker_key`
        when the ticket, which expires at `holds_until`, is served at once); the ticket's
        number, or raises."""
        self.taken = True
        keys = [*self.keys, lock_key] if tracker_key is None else [*self.keys, lock_key, tracker_key]
        ticket, answer, read, tracker = run_script(redis, self.source, keys, [*self.args, *ticket_args])
        self.answered = True
        self.took(answer)
        if int(ticket) < 0:
            raise NotForRasa(self.conversation_id)
        self.ticket = int(ticket)
        if tracker_key is not None and read in (b"1", "1"):
            self.tracker = LockedTracker(tracker_key, tracker, holds_until)
        return self.ticket

    def give_back(self, redis: SyncScripts, lock_key: str) -> None:
        """Stores the replies held (and Rasa's save of the tracker, when held) and returns
        the ticket, in one script."""
        assert self.replies is not None and self.ticket is not None
        self.replies.done = True
        keys, args = self.replies.held()
        keys.append(lock_key)
        tracker = self.tracker
        save = tracker.unsaved if tracker is not None else None
        if tracker is not None and save is not None:
            keys.append(tracker.key)
            args += save.args()
        ids = run_script(redis, self.replies.source, keys, [*args, str(self.ticket)])
        if tracker is not None:
            tracker.unsaved = None
        self.replies.stored([i.decode() if isinstance(i, bytes) else str(i) for i in ids])

    def write_unsaved(self) -> None:
        """Writes a save still held (the ticket's return failed or never came) on its own."""
        tracker = self.tracker
        if tracker is not None and tracker.unsaved is not None:
            save, tracker.unsaved = tracker.unsaved, None
            save.write_alone()


_waiting: ContextVar[TicketStep | None] = ContextVar("handoff_ticket_step", default=None)


@contextmanager
def waiting(step: TicketStep) -> Iterator[TicketStep]:
    """`step` waits for its conversation's next ticket in this context (Rasa's handling
    of the message, awaited by the caller)."""
    token = _waiting.set(step)
    try:
        yield step
    except BaseException:
        try:
            step.write_unsaved()
        except Exception as failure:  # Rasa's own failure goes up, not this one's
            logger.error("conversation %r: the tracker was not saved: %r", step.conversation_id, failure)
        raise
    finally:
        _waiting.reset(token)
    step.write_unsaved()


def take(conversation_id: str) -> TicketStep | None:
    """The step waiting for `conversation_id`'s ticket here, if any (taken once: a
    task Rasa starts meanwhile copies the context, not the step's use)."""
    step = _waiting.get()
    if step is None or step.taken or step.conversation_id != conversation_id:
        return None
    return step


def returning(conversation_id: str, ticket: int) -> TicketStep | None:
    """The step here whose `ticket` for `conversation_id` Rasa gives back, if its replies
    are to go with it (once)."""
    step = _waiting.get()
    if step is None or not step.holds_replies:
        return None
    return step if step.conversation_id == conversation_id and step.ticket == ticket else None


def locked_tracker(key: str) -> LockedTracker | None:
    """The tracker at `key` as stored now, when the step here holds its conversation's lock
    with a ticket served at once and read it with the ticket (None: read it from Redis)."""
    step = _waiting.get()
    locked = None if step is None else step.tracker
    if locked is None or locked.key != key or not locked.known:
        return None
    if time.time() >= locked.holds_until - HOLD_MARGIN_S:  # Rasa took this long: read it again
        return None
    return locked


def saves_with_return(key: str, save: TrackerSave) -> bool:
    """Holds Rasa's save of the tracker at `key` for the return of the ticket the step here
    holds its lock with, when that return is to store the replies (True); otherwise the
    tracker store writes it now (False)."""
    step = _waiting.get()
    locked = locked_tracker(key)
    if step is None or locked is None or not step.holds_replies or step.ticket is None:
        return False
    locked.unsaved = save
    return True


def superseded(key: str) -> None:
    """The tracker store writes the tracker at `key` itself now: a save of it still held
    here for the ticket's return is older, and is dropped."""
    step = _waiting.get()
    if step is not None and step.tracker is not None and step.tracker.key == key:
        step.tracker.unsaved = None


def rasa_waits() -> None:
    """Rasa is about to wait (for the action server): the replies held so far are stored
    now rather than when the ticket goes back."""
    step = _waiting.get()
    if step is not None and step.replies is not None and step.holds_replies:
        step.replies.store_now()


def run_script(redis: SyncScripts, source: str, keys: list[str], args: list[str]) -> Any:
    """EVALSHA, loading the script first if this Redis does not know it yet."""
    sha = script_sha(source)  # hashed once per source, not per message
    try:
        return redis.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        redis.script_load(source)
        return redis.evalsha(sha, len(keys), *keys, *args)

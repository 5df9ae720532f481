"""Rasa's Redis tracker store, with loads and saves that stay cheap.

Rasa 3.6's `RedisTrackerStore` does more than a conversation's length calls for:
- On every load it turns every stored event into an object, finding each event's
  class by walking all of `Event`'s subclasses (most of the load's time), replays
  them all, and when the conversation holds more than one session replays the
  latest one again.
- On every save it loads what is stored the same way and merges the tracker into
  it; when the tracker does not hold every stored event (an earlier session), it
  compares each event with every other one through `as_dict` (quadratic).

A session's first message with metadata (the handoff channel's live settings, a
Socket.IO widget's `customData`) makes Rasa put a `session_started_metadata` slot
event before the session's start, which its loader counts as a session of its own:
from its first message on, such a conversation paid for all of the above.

This store finds each event's class in a table, replays only the latest session,
and saves by finding where the tracker's events sit in the stored ones (as plain
JSON, no event objects) and keeping the stored events before them. Anything else
(another process saved meanwhile) goes to Rasa's merge, as before.

When the handoff channel's step took the conversation's lock ticket and read the tracker
in the same Redis round trip (channels/handoff/ticket_step.py), the store knows what is
stored while that ticket holds the lock: loads and saves take it from there instead of
reading the tracker again. Rasa's save, the last thing it does before it gives the ticket
back, is then written in the script that gives the ticket back (with the bot's replies):
one round trip fewer inside Rasa's handling.

Use it in endpoints.yml: `tracker_store: type: channels.handoff.tracker_store.MergingRedisTrackerStore`
with the same settings as `type: redis`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.conversation import Dialogue
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from channels.handoff import ticket_step
from channels.handoff.lock_store import reaches

Item = TypeVar("Item")
EventDict = dict[str, Any]


def stored_before(
    stored: Sequence[Item], loaded: Sequence[Item], same: Callable[[Item, Item], bool]
) -> list[Item] | None:
    """The stored events that come before the loaded ones, when the loaded events
    start with the rest of the stored ones (None otherwise)."""
    if not loaded:
        return None
    first = loaded[0]
    for start in range(len(stored) - 1, -1, -1):  # the latest session starts near the end
        if same(stored[start], first):
            rest = stored[start:]
            if len(loaded) >= len(rest) and all(same(a, b) for a, b in zip(loaded, rest, strict=False)):
                return list(stored[:start])
            return None
    return None


def same_event(a: Event, b: Event) -> bool:
    """Rasa's event equality leaves the time out; two stored events differ by it."""
    return a.timestamp == b.timestamp and a == b


def same_dict(a: EventDict, b: EventDict) -> bool:
    return a == b


@functools.cache
def event_classes() -> dict[str, type[Event]]:
    """Each event type's class, as `Event.resolve_by_type` finds it (the first of
    `Event`'s subclasses with that type name)."""
    classes: dict[str, type[Event]] = {}
    for cls in all_subclasses(Event):
        classes.setdefault(cls.type_name, cls)
    return classes


def events_from_dicts(stored: list[EventDict]) -> list[Event]:
    """`rasa.shared.core.events.deserialise_events`, with each class found in a table
    (a type not in it, e.g. defined later, goes to Rasa's own lookup)."""
    events: list[Event] = []
    classes = event_classes()
    for parameters in stored:
        cls = classes.get(parameters.get("event", ""))
        event = cls._from_parameters(parameters) if cls else Event.from_parameters(parameters)
        if event is not None:
            events.append(event)
    return events


def latest_session(events: list[Event]) -> list[Event]:
    """The events from the last `action_session_start` on (all of them without one):
    the tracker Rasa's loader returns."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_SESSION_START_NAME:
            return events[index:]
    return events


def stored_events(stored: bytes | str, locked: ticket_step.LockedTracker | None) -> list[EventDict]:
    """The stored tracker's events: decoded here, or once per ticket while the lock is held."""
    return ticket_step.tracker_events(stored) if locked is None else locked.stored_events()


class MergingRedisTrackerStore(RedisTrackerStore):
    """`RedisTrackerStore` that loads only what it returns and saves without
    comparing every event with every other one."""

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        key = self.key_prefix + sender_id
        locked = ticket_step.locked_tracker(key)
        stored = self.red.get(key) if locked is None else locked.stored
        if stored is None:
            return None
        events = events_from_dicts(stored_events(stored, locked))
        tracker = self.init_tracker(sender_id)
        tracker.recreate_from_dialogue(Dialogue(sender_id, events if fetch_all_sessions else latest_session(events)))
        return tracker

    async def save(self, tracker: DialogueStateTracker, timeout: float | None = None) -> None:
        await self.stream_events(tracker)
        if not timeout and self.record_exp:
            timeout = self.record_exp
        key = self.key_prefix + tracker.sender_id
        locked = ticket_step.locked_tracker(key)
        stored = self.red.get(key) if locked is None else locked.stored
        events = [event.as_dict() for event in tracker.events]
        if stored is not None:
            earlier = stored_before(stored_events(stored, locked), events, same_dict)
            if earlier is None:  # not a continuation of what is stored: Rasa's merge
                merged = self._merge_trackers(self.deserialise_tracker(tracker.sender_id, stored), tracker)
                events = [event.as_dict() for event in merged.events]
            else:
                events = earlier + events
        serialised = json.dumps({"events": events, "name": tracker.sender_id})
        ticket_step.superseded(key)  # this save is newer than one held for the ticket's return
        if locked is None:
            self.red.set(key, serialised, ex=timeout)
            return
        expires_in = int(timeout) if timeout else None
        write = functools.partial(self.red.set, key, serialised, ex=expires_in)
        if ticket_step.saves_with_return(key, ticket_step.TrackerSave(serialised, expires_in, write)):
            locked.stored, locked.events = serialised, events  # written with the ticket's return
            return
        locked.known = False  # until Redis says it stored it
        self.red.set(key, serialised, ex=timeout)
        locked.stored, locked.events, locked.known = serialised, events, True

    @staticmethod
    def _merge_trackers(prior_tracker: DialogueStateTracker, tracker: DialogueStateTracker) -> DialogueStateTracker:
        earlier = stored_before(list(prior_tracker.events), list(tracker.events), same_event)
        if earlier is None:
            return RedisTrackerStore._merge_trackers(prior_tracker, tracker)
        if not earlier:
            return tracker
        merged = tracker.init_copy()
        merged.update_with_events([*earlier, *tracker.events], override_timestamp=False, domain=None)
        return merged


def sharing_key_prefix(agent: Any, marker: str) -> str | None:
    """The key prefix of `agent`'s tracker store if it is this module's store and reaches
    the Redis (and database) where `marker` is: customer messages' steps may then read
    trackers with their lock tickets (ticket_step.py). Otherwise None."""
    store = getattr(agent, "tracker_store", None)
    store = getattr(store, "_tracker_store", store)  # Rasa wraps it in AwaitableTrackerStore
    if not isinstance(store, MergingRedisTrackerStore):
        return None
    return store.key_prefix if reaches(store.red, marker) else None

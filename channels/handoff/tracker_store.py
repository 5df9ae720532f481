"""Rasa's Redis tracker store with a merge that stays cheap.

Rasa 3.6's `RedisTrackerStore` loads only a conversation's latest session and, on
every save, merges it into what is stored: when the loaded tracker does not hold
every stored event (an earlier session), it compares each event with every other
one through `as_dict` (quadratic in the conversation's length). A session's
first message with metadata (the handoff channel's live settings; a Socket.IO
widget's `customData`) makes Rasa put a `session_started_metadata` slot event
before the session's start, which its loader counts as a session of its own: from
then on every save of the conversation took that path (py-spy: most of the
handoff channel's cost on the bot path). This store finds where the loaded events
sit in the stored ones and keeps the stored events before them, without the
quadratic comparison; anything else (another process saved meanwhile) goes to
Rasa's merge as before.

Use it in endpoints.yml: `tracker_store: type: channels.handoff.tracker_store.MergingRedisTrackerStore`
with the same settings as `type: redis`.
"""

from __future__ import annotations

from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker


def stored_before(stored: list[Event], loaded: list[Event]) -> list[Event] | None:
    """The stored events that come before the loaded ones, when the loaded events
    start with the rest of the stored ones (None otherwise)."""
    if not loaded:
        return None
    first = loaded[0]
    for start in range(len(stored) - 1, -1, -1):  # the latest session starts near the end
        candidate = stored[start]
        if candidate.timestamp == first.timestamp and candidate == first:
            rest = stored[start:]
            if len(loaded) >= len(rest) and all(
                a.timestamp == b.timestamp and a == b for a, b in zip(loaded, rest, strict=False)
            ):
                return stored[:start]
            return None
    return None


class MergingRedisTrackerStore(RedisTrackerStore):
    """`RedisTrackerStore` whose save keeps earlier sessions without comparing every
    event with every other one."""

    @staticmethod
    def _merge_trackers(prior_tracker: DialogueStateTracker, tracker: DialogueStateTracker) -> DialogueStateTracker:
        earlier = stored_before(list(prior_tracker.events), list(tracker.events))
        if earlier is None:
            return RedisTrackerStore._merge_trackers(prior_tracker, tracker)
        if not earlier:
            return tracker
        merged = tracker.init_copy()
        merged.update_with_events([*earlier, *tracker.events], override_timestamp=False, domain=None)
        return merged

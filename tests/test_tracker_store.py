"""The merging tracker store on a real Redis: it stores and loads what Rasa's own
store stores and loads (earlier sessions kept, a save of another process merged),
and the usual save of a conversation whose first message carried metadata does not
go through Rasa's quadratic merge."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
    deserialise_events,
)
from rasa.shared.core.trackers import DialogueStateTracker
from redis import Redis

from channels.handoff.tracker_store import (
    MergingRedisTrackerStore,
    event_classes,
    events_from_dicts,
    same_dict,
    same_event,
    stored_before,
)
from tests.redis_server import RedisServer

DOMAIN = Domain.load("domain.yml")


def session(metadata: dict[str, object] | None, at: float) -> list[Event]:
    """A session's start as Rasa records it: with metadata on its first message, a
    `session_started_metadata` slot event comes before `action_session_start`."""
    events: list[Event] = []
    if metadata:
        events.append(SlotSet("session_started_metadata", metadata, timestamp=at))
    events += [
        ActionExecuted("action_session_start", timestamp=at + 0.01),
        SessionStarted(timestamp=at + 0.02),
        ActionExecuted("action_listen", timestamp=at + 0.03),
    ]
    return events


def turn(text: str, at: float) -> list[Event]:
    return [
        UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=at),
        ActionExecuted("utter_greet", timestamp=at + 0.01),
        BotUttered("Hi!", timestamp=at + 0.02),
        ActionExecuted("action_listen", timestamp=at + 0.03),
    ]


Store = Callable[[], RedisTrackerStore]


@pytest.fixture
def stores(redis_server: RedisServer) -> tuple[Store, Store]:
    """Makers of Rasa's store and ours, on the same Redis (other key prefixes)."""
    Redis(port=redis_server.port).flushall()

    def rasa() -> RedisTrackerStore:
        return RedisTrackerStore(DOMAIN, port=redis_server.port, key_prefix="rasa")

    def ours() -> RedisTrackerStore:
        return MergingRedisTrackerStore(DOMAIN, port=redis_server.port, key_prefix="ours")

    return rasa, ours


def dicts(tracker: DialogueStateTracker | None) -> list[dict[str, object]]:
    assert tracker is not None
    return [event.as_dict() for event in tracker.events]


async def conversation(
    store: RedisTrackerStore, sender: str, metadata: dict[str, object] | None, start: float
) -> list[dict[str, object]]:
    """Two sessions, each of three turns, saved after every turn as Rasa does."""
    tracker = DialogueStateTracker.from_events(sender, session(metadata, start), DOMAIN.slots)
    await store.save(tracker)
    for index in range(6):
        if index == 3:  # a new session, as after the session expired
            tracker = await store.retrieve(sender)
            assert tracker is not None
            tracker.update_with_events(session(metadata, start + 50), None, override_timestamp=False)
            await store.save(tracker)
        tracker = await store.retrieve(sender)
        assert tracker is not None
        tracker.update_with_events(turn(f"message {index}", start + 10 * index + 1), None, override_timestamp=False)
        await store.save(tracker)
    return dicts(await store.retrieve_full_tracker(sender))


@pytest.mark.parametrize("metadata", [None, {"handoff": {"agents_online": 0}}])
async def test_it_stores_what_rasa_s_store_stores_without_its_quadratic_merge(
    stores: tuple[Store, Store], metadata: dict[str, object] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rasa, ours = stores
    start = time.time() - 100
    theirs = await conversation(rasa(), "c1", metadata, start)
    rasa_merges: list[str] = []
    original = RedisTrackerStore._merge_trackers

    def counted(prior: DialogueStateTracker, tracker: DialogueStateTracker) -> DialogueStateTracker:
        rasa_merges.append(tracker.sender_id)
        return original(prior, tracker)

    monkeypatch.setattr(RedisTrackerStore, "_merge_trackers", staticmethod(counted))
    mine = await conversation(ours(), "c1", metadata, start)
    assert rasa_merges == []  # every save found the loaded session in the stored events
    assert mine == theirs
    theirs_loaded, mine_loaded = await rasa().retrieve("c1"), await ours().retrieve("c1")
    assert theirs_loaded is not None and mine_loaded is not None
    assert dicts(mine_loaded) == dicts(theirs_loaded) and dicts(mine_loaded)[0]["event"] == "action"  # latest session
    assert mine_loaded.current_slot_values() == theirs_loaded.current_slot_values()
    assert sum(1 for e in mine if e["event"] == "session_started") == 2  # earlier sessions kept
    assert [e["text"] for e in mine if e["event"] == "user"] == [f"message {i}" for i in range(6)]


async def test_a_save_by_another_process_meanwhile_is_merged_as_rasa_merges_it(stores: tuple[Store, Store]) -> None:
    for make in stores:
        first, second = make(), make()  # as two processes
        start = time.time() - 100
        await first.save(DialogueStateTracker.from_events("c2", session({"k": "v"}, start), DOMAIN.slots))
        mine, theirs = await first.retrieve("c2"), await second.retrieve("c2")
        assert mine is not None and theirs is not None
        theirs.update_with_events(turn("from the other", start + 5), None, override_timestamp=False)
        await second.save(theirs)
        mine.update_with_events(turn("from this one", start + 6), None, override_timestamp=False)
        await first.save(mine)
        texts = [e.text for e in (await first.retrieve_full_tracker("c2")).events if isinstance(e, UserUttered)]
        assert sorted(texts) == ["from the other", "from this one"], make


def test_the_usual_save_finds_the_loaded_session_in_the_stored_events() -> None:
    start = time.time()
    stored = [*session({"k": "v"}, start), *turn("hello", start + 1)]
    loaded = stored[1:] + turn("again", start + 2)  # Rasa's loader left the slot event out
    changed = [*stored[1:3], *turn("someone else", start + 3)]  # the stored tail differs
    later = [*stored[1:4], *turn("hello", start + 5)]  # the same turn, at another time
    for same, view in ((same_event, lambda events: events), (same_dict, lambda events: [e.as_dict() for e in events])):
        assert stored_before(view(stored), view(loaded), same) == view(stored[:1])
        assert stored_before(view(stored), view(stored + turn("again", start + 2)), same) == []  # all of it loaded
        assert stored_before(view(stored), view(changed), same) is None
        assert stored_before(view(stored), view(later), same) is None
        assert stored_before(view(stored), [], same) is None


def test_events_are_read_back_as_rasa_reads_them() -> None:
    start = time.time()
    events = [*session({"k": "v"}, start), *turn("hello", start + 1)]
    stored = [e.as_dict() for e in events] + [{"event": "pause", "timestamp": start + 2}, {"no": "event"}]
    read = events_from_dicts(stored)
    assert [e.as_dict() for e in read] == [e.as_dict() for e in deserialise_events(stored)]
    assert type(read[-1]).__name__ == "ConversationPaused" and len(read) == len(events) + 1
    assert event_classes()["user"] is UserUttered
    with pytest.raises(ValueError, match="Unknown event name"):
        events_from_dicts([{"event": "no such event"}])

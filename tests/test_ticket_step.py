"""A customer message's step taken with Rasa's lock ticket (channels/handoff/ticket_step.py),
on a real Redis: the store's step and the lock store's ticket in one script. A message
for the bot is stored and gets its ticket; one a human has, or one refused, gets none
(and the refused one changes nothing); the step is used once, for its conversation
only; a Redis that cannot be reached is the lock store's LockError. The bot's replies
are stored in the script that gives the ticket back, or at once when Rasa waits for
the action server, or after Rasa when that script failed. A ticket served at once brings
the conversation's tracker, which Rasa's tracker store then loads and saves without
reading it from Redis, while the ticket holds the lock."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from types import SimpleNamespace
from typing import Any

import pytest
from rasa.core.lock_store import LockError
from rasa.core.tracker_store import AwaitableTrackerStore, RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from redis import Redis as SyncRedis
from redis.exceptions import RedisError
from sanic.response import HTTPResponse

from channels.handoff.errors import Unauthorized
from channels.handoff.http import api
from channels.handoff.lock_store import AtomicRedisLockStore, sharing_redis
from channels.handoff.output import HandoffCollector
from channels.handoff.redis_pipe import PipelinedRedis
from channels.handoff.settings import DeskSettings
from channels.handoff.store import Admission, HandoffStore, IncomingResult, Quota
from channels.handoff.ticket_step import (
    HOLD_MARGIN_S,
    NotForRasa,
    ReplyRelease,
    TicketStep,
    rasa_waits,
    returning,
    take,
    waiting,
)
from channels.handoff.tracker_store import MergingRedisTrackerStore, sharing_key_prefix
from tests.redis_server import RedisServer, free_port

DESK = DeskSettings()


def lock_store(port: int) -> AtomicRedisLockStore:
    return AtomicRedisLockStore(host="127.0.0.1", port=port, db=0, key_prefix="lock")


def step_of(
    store: HandoffStore, sender: str, text: str, token: str | None, received: list[IncomingResult]
) -> TicketStep:
    admission = Admission(token, f"new-token-{sender}", Quota("-", 0))
    keys, args = store.customer_message_step(sender, text, {}, {"page": "faq"}, admission, DESK)

    def took(answer: Any) -> None:
        received.append(store.customer_message_result(answer, admission, DESK))

    return TicketStep(sender, store.script_source("customer_message_ticket"), keys, args, took)


def with_replies(store: HandoffStore, step: TicketStep) -> HandoffCollector:
    """The step's replies held for its ticket's return, as the channel wires them."""
    sender = step.conversation_id
    collector = HandoffCollector(functools.partial(store.start_bot_message, sender), hold=True)
    step.replies = ReplyRelease(
        store.script_source("bot_messages_release"),
        lambda: store.bot_messages_step(sender, collector.held),
        collector.held_stored,
        collector.store_held,
    )
    return collector


def new_results() -> list[IncomingResult]:
    return []


def answered_once(store: HandoffStore, lock: AtomicRedisLockStore, sender: str, received: list[IncomingResult]) -> None:
    """A first message for the bot, answered: its ticket taken and given back."""
    with waiting(step_of(store, sender, "hello", None, received)):
        lock.issue_ticket(sender, 60)
    lock.finish_serving(sender, 0)


def tickets(lock: AtomicRedisLockStore, sender: str) -> list[int]:
    raw = lock.red.get(lock.key_prefix + sender)
    return [json.loads(t)["number"] for t in json.loads(raw)["tickets"]] if raw else []


async def test_a_message_for_the_bot_is_stored_and_takes_the_first_ticket(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, received = lock_store(redis_server.port), new_results()
    step = step_of(store, "ts-bot", "hello", None, received)
    with waiting(step):
        assert lock.issue_ticket("ts-bot", 60) == 0
    assert step.taken and step.answered
    [incoming] = received
    assert (incoming.state, incoming.issued_token, incoming.resume_pending) == ("bot", "new-token-ts-bot", False)
    assert incoming.desk is not None and incoming.desk[1] == 0  # the desk read in the same step, no agent online
    assert [(m.author, m.text) for m in await store.transcript("ts-bot")] == [("customer", "hello")]
    assert tickets(lock, "ts-bot") == [0]
    # Rasa's other calls for the conversation take plain tickets.
    assert lock.issue_ticket("ts-bot", 60) == 1 and len(received) == 1


async def test_a_message_a_human_has_is_stored_for_them_and_takes_no_ticket(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, received = lock_store(redis_server.port), new_results()
    answered_once(store, lock, "ts-human", received)
    assert await store.start_waiting("ts-human", "asked")
    step = step_of(store, "ts-human", "is anyone there?", "new-token-ts-human", received)
    with waiting(step), pytest.raises(NotForRasa):
        lock.issue_ticket("ts-human", 60)
    assert received[-1].state == "waiting"
    assert tickets(lock, "ts-human") == []
    assert [m.text for m in await store.transcript("ts-human")] == ["hello", "is anyone there?"]
    queued = await store.pending_recordings("ts-human")  # for the tracker, as history
    assert [(m.text, metadata.get("page")) for m, metadata in queued.messages] == [("is anyone there?", "faq")]


async def test_a_refused_message_changes_nothing_and_takes_no_ticket(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, received = lock_store(redis_server.port), new_results()
    answered_once(store, lock, "ts-refused", received)
    before = await store.transcript("ts-refused")
    step = step_of(store, "ts-refused", "let me in", "somebody-elses-token", received)
    with waiting(step), pytest.raises(Unauthorized):
        lock.issue_ticket("ts-refused", 60)
    assert await store.transcript("ts-refused") == before
    assert tickets(lock, "ts-refused") == [] and len(received) == 1


async def test_a_return_to_the_bot_left_to_finish_takes_no_ticket(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, received = lock_store(redis_server.port), new_results()
    answered_once(store, lock, "ts-resume", received)
    await store.redis.hset(store.keys.conversation("ts-resume"), "resume_pending", "action_bot_assigned")
    step = step_of(store, "ts-resume", "back again", "new-token-ts-resume", received)
    with waiting(step), pytest.raises(NotForRasa):
        lock.issue_ticket("ts-resume", 60)
    assert (received[-1].state, received[-1].resume_action) == ("bot", "action_bot_assigned")
    assert tickets(lock, "ts-resume") == []


async def test_the_step_waits_for_its_own_conversation_and_runs_once(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, received = lock_store(redis_server.port), new_results()
    step = step_of(store, "ts-once", "hello", None, received)
    with waiting(step):
        assert take("ts-other") is None
        assert lock.issue_ticket("ts-other", 60) == 0 and not step.taken
        assert lock.issue_ticket("ts-once", 60) == 0 and step.taken
        assert take("ts-once") is None
        assert lock.issue_ticket("ts-once", 60) == 1
    assert take("ts-once") is None  # gone with its context
    assert len(received) == 1 and len(await store.transcript("ts-once")) == 1


async def test_a_redis_out_of_reach_is_a_lock_error(store: HandoffStore) -> None:
    lock, received = lock_store(free_port()), new_results()
    step = step_of(store, "ts-down", "hello", None, received)
    with waiting(step), pytest.raises(LockError):
        lock.issue_ticket("ts-down", 60)
    assert step.taken and not step.answered and received == []


async def test_the_lock_store_is_used_only_on_the_same_redis_and_database(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    class Agent:
        def __init__(self, lock_store: Any) -> None:
            self.lock_store = lock_store

    same = lock_store(redis_server.port)
    assert await sharing_redis(Agent(same), store.place_marker) is same
    other_db = AtomicRedisLockStore(host="127.0.0.1", port=redis_server.port, db=1, key_prefix="lock")
    assert await sharing_redis(Agent(other_db), store.place_marker) is None
    assert await sharing_redis(Agent(lock_store(free_port())), store.place_marker) is None
    assert await sharing_redis(Agent(object()), store.place_marker) is None
    assert await sharing_redis(None, store.place_marker) is None


async def test_a_redis_out_of_reach_for_the_ticket_is_answered_as_storage_unavailable(store: HandoffStore) -> None:
    """The HTTP answer tells a Redis that failed Rasa's lock ticket (the step with it)
    from a conversation that is busy."""
    lock = lock_store(free_port())

    @api
    async def send(request: Any) -> HTTPResponse:
        with waiting(step_of(store, "ts-http", "hello", None, new_results())):
            lock.issue_ticket("ts-http", 60)
        raise AssertionError("a ticket from a Redis out of reach")

    @api
    async def busy(request: Any) -> HTTPResponse:
        raise LockError("Could not acquire lock for conversation_id 'ts-http'.")

    request = SimpleNamespace(headers={}, ctx=SimpleNamespace())
    unavailable, refused = await send(request), await busy(request)
    assert (unavailable.status, json.loads(unavailable.body or b"")["error"]) == (503, "unavailable")
    assert (refused.status, json.loads(refused.body or b"")["error"]) == (503, "busy")


async def bot_texts(store: HandoffStore, sender: str) -> list[str]:
    return [m.text for m in await store.transcript(sender) if m.author == "bot"]


async def bot_ids(store: HandoffStore, sender: str) -> list[str]:
    return [m.id for m in await store.transcript(sender) if m.author == "bot"]


def held_for_ticket(
    store: HandoffStore, port: int, sender: str
) -> tuple[AtomicRedisLockStore, TicketStep, HandoffCollector]:
    """A lock store, and a first message's step whose replies are held for its ticket's return."""
    step = step_of(store, sender, "hello", None, new_results())
    return lock_store(port), step, with_replies(store, step)


async def test_the_replies_are_stored_in_the_script_that_gives_the_ticket_back(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, step, collector = held_for_ticket(store, redis_server.port, "ts-replies")
    with waiting(step):
        ticket = lock.issue_ticket("ts-replies", 60)
        assert lock.issue_ticket("ts-replies", 60) == ticket + 1  # another message's, still held after ours
        await collector.send_text_message("ts-replies", "Hi!")
        await collector.send_custom_json("ts-replies", {"handoff": {"reason": "x"}})  # control: never stored
        await collector.send_text_message("ts-replies", "How can I help?")
        assert await bot_texts(store, "ts-replies") == []  # held for the ticket's return
        assert returning("ts-other", ticket) is None and returning("ts-replies", ticket + 1) is None
        lock.cleanup("ts-replies", ticket)
        assert step.replies is not None and step.replies.done and returning("ts-replies", ticket) is None
    assert await bot_texts(store, "ts-replies") == ["Hi!", "How can I help?"]
    assert tickets(lock, "ts-replies") == [ticket + 1]
    assert await collector.stored_ids() == await bot_ids(store, "ts-replies")
    lock.cleanup("ts-replies", ticket + 1)  # a plain return: the lock goes with its last ticket
    assert tickets(lock, "ts-replies") == [] and len(await store.transcript("ts-replies")) == 3


async def test_the_replies_held_go_at_once_when_rasa_waits_for_the_action_server(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    pipe = PipelinedRedis.from_url(redis_server.url)  # as the channel's store: a reply is written at once
    assert pipe is not None
    piped = HandoffStore(store.redis, pipe=pipe)
    try:
        await piped.add_bot_messages("ts-warm", [("the script loaded", {})])
        lock, step, collector = held_for_ticket(piped, redis_server.port, "ts-waits")
        with waiting(step):
            ticket = lock.issue_ticket("ts-waits", 60)
            await collector.send_text_message("ts-waits", "Let me look that up.")
            rasa_waits()
            assert collector.held == []
            await pipe.execute("PING")  # after the reply, on the same connection: stored by now
            assert await bot_texts(store, "ts-waits") == ["Let me look that up."]
            await collector.send_text_message("ts-waits", "It left today.")
            lock.cleanup("ts-waits", ticket)
        assert await bot_texts(store, "ts-waits") == ["Let me look that up.", "It left today."]
        assert await collector.stored_ids() == await bot_ids(store, "ts-waits")
        assert tickets(lock, "ts-waits") == []
    finally:
        await pipe.close()


async def test_replies_whose_ticket_return_failed_are_stored_after_rasa(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, step, collector = held_for_ticket(store, redis_server.port, "ts-failed")
    with waiting(step):
        ticket = lock.issue_ticket("ts-failed", 60)
        await collector.send_text_message("ts-failed", "Hi!")
        unreachable = lock_store(free_port())
        with pytest.raises(RedisError):
            unreachable.cleanup("ts-failed", ticket)
    assert await bot_texts(store, "ts-failed") == []
    [stored] = await collector.stored_ids()
    assert [(m.id, m.text) for m in await store.transcript("ts-failed") if m.author == "bot"] == [(stored, "Hi!")]


def tracker_store(port: int, db: int = 0) -> MergingRedisTrackerStore:
    return MergingRedisTrackerStore(Domain.load("domain.yml"), port=port, db=db, key_prefix="handoff")


def calls(port: int, command: str) -> int:
    """How many times this Redis has run `command` (scripts' own included)."""
    stats = SyncRedis(port=port).info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def said(text: str) -> list[Event]:
    return [UserUttered(text, {"name": "greet", "confidence": 1.0}), ActionExecuted("action_listen")]


async def saved_conversation(trackers: MergingRedisTrackerStore, sender: str, texts: list[str]) -> None:
    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    for text in texts:
        events += said(text)
    await trackers.save(DialogueStateTracker.from_events(sender, events))


def texts_of(tracker: DialogueStateTracker | None) -> list[str | None]:
    assert tracker is not None
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


async def test_a_ticket_served_at_once_brings_the_tracker_which_rasa_then_loads_and_saves_without_reading_it(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, trackers, received = lock_store(redis_server.port), tracker_store(redis_server.port), new_results()
    lock.reads_trackers_at(trackers.key_prefix)
    await saved_conversation(trackers, "ts-tracker", ["first"])
    step = step_of(store, "ts-tracker", "second", None, received)
    with waiting(step):
        assert lock.issue_ticket("ts-tracker", 60) == 0
        before = calls(redis_server.port, "get")
        tracker = await trackers.retrieve("ts-tracker")
        assert texts_of(tracker) == ["first"]
        assert tracker is not None
        tracker.update_with_events(said("second"), None)
        await trackers.save(tracker)
        again = await trackers.retrieve("ts-tracker")  # as saved, still under the ticket
        assert calls(redis_server.port, "get") == before  # neither the loads nor the save read Redis
        assert texts_of(again) == ["first", "second"]
    lock.finish_serving("ts-tracker", 0)
    assert texts_of(await trackers.retrieve("ts-tracker")) == ["first", "second"]  # what Redis holds
    # A new conversation: no tracker stored, none read.
    step = step_of(store, "ts-new", "hello", None, received)
    with waiting(step):
        assert lock.issue_ticket("ts-new", 60) == 0
        before = calls(redis_server.port, "get")
        assert await trackers.retrieve("ts-new") is None and calls(redis_server.port, "get") == before


async def test_under_the_ticket_the_tracker_is_decoded_once_and_saved_as_without_it(
    redis_server: RedisServer, store: HandoffStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load and the save share one decoding of the tracker read with the ticket (and a
    load after the save uses what was saved), and what they save is what the same store
    saves when it reads Redis itself."""
    lock, trackers, received = lock_store(redis_server.port), tracker_store(redis_server.port), new_results()
    lock.reads_trackers_at(trackers.key_prefix)
    opening = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"), *said("a")]
    second, third = said("b"), said("c")
    for sender in ("ts-plain", "ts-once"):
        await trackers.save(DialogueStateTracker.from_events(sender, opening))
    plain = await trackers.retrieve("ts-plain")
    assert plain is not None
    plain.update_with_events(second, None, override_timestamp=False)
    await trackers.save(plain)
    plain.update_with_events(third, None, override_timestamp=False)
    await trackers.save(plain)

    decoded: list[str] = []
    real_loads = json.loads

    def counting_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        value = real_loads(text, *args, **kwargs)
        if isinstance(value, dict) and "events" in value:
            decoded.append(value.get("name", "?"))
        return value

    monkeypatch.setattr(json, "loads", counting_loads)
    step = step_of(store, "ts-once", "b", None, received)
    with waiting(step):
        assert lock.issue_ticket("ts-once", 60) == 0
        tracker = await trackers.retrieve("ts-once")
        assert tracker is not None
        tracker.update_with_events(second, None, override_timestamp=False)
        await trackers.save(tracker)
        again = await trackers.retrieve("ts-once")  # as after an action: what was saved
        assert again is not None
        again.update_with_events(third, None, override_timestamp=False)
        await trackers.save(again)
    assert decoded == ["ts-once"]
    lock.finish_serving("ts-once", 0)
    monkeypatch.undo()
    stored = SyncRedis(port=redis_server.port)
    events_of = [json.loads(stored.get(trackers.key_prefix + s) or b"{}")["events"] for s in ("ts-plain", "ts-once")]
    assert events_of[0] == events_of[1] and len(events_of[0]) == len(opening) + 4


async def test_a_ticket_behind_another_or_near_its_expiry_leaves_the_tracker_to_redis(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, trackers, received = lock_store(redis_server.port), tracker_store(redis_server.port), new_results()
    lock.reads_trackers_at(trackers.key_prefix)
    await saved_conversation(trackers, "ts-behind", ["first"])
    assert lock.issue_ticket("ts-behind", 60) == 0  # another holds the lock: it may still change the tracker
    step = step_of(store, "ts-behind", "second", None, received)
    with waiting(step):
        assert lock.issue_ticket("ts-behind", 60) == 1
        assert step.tracker is None
        await saved_conversation(trackers, "ts-behind", ["first", "by the holder"])
        before = calls(redis_server.port, "get")
        assert texts_of(await trackers.retrieve("ts-behind")) == ["first", "by the holder"]
        assert calls(redis_server.port, "get") == before + 1
    await saved_conversation(trackers, "ts-late", ["first"])
    step = step_of(store, "ts-late", "second", None, received)
    with waiting(step):
        assert lock.issue_ticket("ts-late", HOLD_MARGIN_S / 2) == 0  # Rasa would outlive the ticket
        assert step.tracker is not None
        before = calls(redis_server.port, "get")
        assert texts_of(await trackers.retrieve("ts-late")) == ["first"]
        assert calls(redis_server.port, "get") == before + 1


async def test_a_message_let_in_before_its_turn_takes_a_bare_ticket_with_the_tracker_and_the_replies(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    """A message whose step ran while others were ahead in Rasa's line (service.py): its
    ticket still brings the tracker, and its return stores the bot's replies."""
    lock, trackers = lock_store(redis_server.port), tracker_store(redis_server.port)
    lock.reads_trackers_at(trackers.key_prefix)
    await saved_conversation(trackers, "ts-bare", ["first"])
    incoming = await store.receive_customer_message("ts-bare", "second", {}, {}, None, DESK)
    assert incoming.state == "bot"
    step = TicketStep("ts-bare", store.script_source("bot_ticket"), [], [], lambda _: None)
    collector = with_replies(store, step)
    with waiting(step):
        assert lock.issue_ticket("ts-bare", 60) == 0 and step.tracker is not None
        before = calls(redis_server.port, "get")
        tracker = await trackers.retrieve("ts-bare")
        assert texts_of(tracker) == ["first"] and calls(redis_server.port, "get") == before  # not read again
        assert tracker is not None
        tracker.update_with_events(said("second"), None)
        await trackers.save(tracker)
        assert calls(redis_server.port, "get") == before  # nor read to merge the save
        await collector.send_text_message("ts-bare", "Hi again!")
        assert await bot_texts(store, "ts-bare") == []  # held for the ticket's return
        lock.cleanup("ts-bare", 0)
    assert await bot_texts(store, "ts-bare") == ["Hi again!"]
    assert await collector.stored_ids() == await bot_ids(store, "ts-bare")
    assert tickets(lock, "ts-bare") == []
    assert [m.text for m in await store.transcript("ts-bare") if m.author == "customer"] == ["second"]  # stored once
    assert texts_of(await trackers.retrieve("ts-bare")) == ["first", "second"]
    # Behind another ticket: a plain number, the tracker left to Redis.
    assert lock.issue_ticket("ts-bare", 60) == 0
    step = TicketStep("ts-bare", store.script_source("bot_ticket"), [], [], lambda _: None)
    with waiting(step):
        assert lock.issue_ticket("ts-bare", 60) == 1 and step.tracker is None
    assert tickets(lock, "ts-bare") == [0, 1]


def stored_texts(port: int, trackers: MergingRedisTrackerStore, sender: str) -> list[str]:
    """The customer texts of the tracker Redis holds now (read past the store)."""
    raw = SyncRedis(port=port).get(trackers.key_prefix + sender)
    events = json.loads(raw)["events"] if raw else []
    return [e["text"] for e in events if e["event"] == "user"]


async def handled(trackers: MergingRedisTrackerStore, sender: str, text: str) -> DialogueStateTracker:
    """Rasa's part for a message: the tracker loaded, the message added, the tracker saved."""
    tracker = await trackers.retrieve(sender)
    assert tracker is not None
    tracker.update_with_events(said(text), None)
    await trackers.save(tracker)
    return tracker


async def test_rasa_s_save_under_the_ticket_is_written_by_the_script_that_gives_it_back(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    """The save, the last thing Rasa does before it gives the ticket back, goes with the
    replies in that script: Redis holds the tracker as saved once the ticket is back, and
    no SET of its own was sent for it."""
    lock, trackers = lock_store(redis_server.port), tracker_store(redis_server.port)
    lock.reads_trackers_at(trackers.key_prefix)
    await saved_conversation(trackers, "ts-save", ["first"])
    step = step_of(store, "ts-save", "second", None, new_results())
    collector = with_replies(store, step)
    with waiting(step):
        assert lock.issue_ticket("ts-save", 60) == 0
        before = calls(redis_server.port, "set")
        await handled(trackers, "ts-save", "second")
        assert stored_texts(redis_server.port, trackers, "ts-save") == ["first"]  # held
        assert texts_of(await trackers.retrieve("ts-save")) == ["first", "second"]  # as saved, under the ticket
        await collector.send_text_message("ts-save", "Hi!")
        lock.cleanup("ts-save", 0)
        assert stored_texts(redis_server.port, trackers, "ts-save") == ["first", "second"]
        assert calls(redis_server.port, "set") == before + 1  # the script's own, once
    assert stored_texts(redis_server.port, trackers, "ts-save") == ["first", "second"]
    assert await bot_texts(store, "ts-save") == ["Hi!"] and tickets(lock, "ts-save") == []
    # With an expiry, the script writes it with the same expiry as the store's own SET.
    expiring = MergingRedisTrackerStore(
        Domain.load("domain.yml"), port=redis_server.port, key_prefix="handoff", record_exp=300
    )
    await saved_conversation(trackers, "ts-save-expiring", ["first"])
    step = step_of(store, "ts-save-expiring", "second", None, new_results())
    with_replies(store, step)
    with waiting(step):
        assert lock.issue_ticket("ts-save-expiring", 60) == 0
        await handled(expiring, "ts-save-expiring", "second")
        lock.cleanup("ts-save-expiring", 0)
    assert stored_texts(redis_server.port, trackers, "ts-save-expiring") == ["first", "second"]
    assert 0 < SyncRedis(port=redis_server.port).ttl(trackers.key_prefix + "ts-save-expiring") <= 300


async def test_a_held_save_whose_ticket_return_failed_or_never_came_is_written_on_its_own(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, trackers = lock_store(redis_server.port), tracker_store(redis_server.port)
    lock.reads_trackers_at(trackers.key_prefix)
    endings: dict[str, Callable[[], AbstractContextManager[Any]]] = {
        "failed": lambda: pytest.raises(RedisError),  # the script that gives the ticket back
        "raised": lambda: pytest.raises(KeyError),  # Rasa, after its save
        "none": nullcontext,  # the ticket never given back with the replies
    }
    for ending, outcome in endings.items():
        sender = f"ts-save-{ending}"
        await saved_conversation(trackers, sender, ["first"])
        step = step_of(store, sender, "second", None, new_results())
        with_replies(store, step)
        with outcome(), waiting(step):
            assert lock.issue_ticket(sender, 60) == 0
            await handled(trackers, sender, "second")
            assert stored_texts(redis_server.port, trackers, sender) == ["first"]
            if ending == "failed":
                lock_store(free_port()).cleanup(sender, 0)  # its Redis out of reach
            elif ending == "raised":
                raise KeyError("Rasa failed after its save")
        assert stored_texts(redis_server.port, trackers, sender) == ["first", "second"], ending


async def test_a_save_the_store_writes_itself_replaces_one_held_for_the_return(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    """Rasa took so long that the ticket is no longer trusted to hold the lock: its next
    save is written at once, and the older one held for the ticket's return is dropped,
    not written over it."""
    lock, trackers = lock_store(redis_server.port), tracker_store(redis_server.port)
    lock.reads_trackers_at(trackers.key_prefix)
    await saved_conversation(trackers, "ts-twice", ["first"])
    step = step_of(store, "ts-twice", "second", None, new_results())
    with_replies(store, step)
    with waiting(step):
        assert lock.issue_ticket("ts-twice", 60) == 0
        tracker = await handled(trackers, "ts-twice", "second")
        assert step.tracker is not None and step.tracker.unsaved is not None  # held
        step.tracker.holds_until = time.time()  # as if Rasa had taken the ticket's whole life
        tracker.update_with_events(said("third"), None)
        await trackers.save(tracker)
        assert stored_texts(redis_server.port, trackers, "ts-twice") == ["first", "second", "third"]
        lock.cleanup("ts-twice", 0)
    assert stored_texts(redis_server.port, trackers, "ts-twice") == ["first", "second", "third"]


async def test_a_save_without_replies_to_return_or_after_the_return_is_written_at_once(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    lock, trackers = lock_store(redis_server.port), tracker_store(redis_server.port)
    lock.reads_trackers_at(trackers.key_prefix)
    await saved_conversation(trackers, "ts-plain-save", ["first"])
    step = step_of(store, "ts-plain-save", "second", None, new_results())  # no replies held for its return
    with waiting(step):
        assert lock.issue_ticket("ts-plain-save", 60) == 0
        await handled(trackers, "ts-plain-save", "second")
        assert stored_texts(redis_server.port, trackers, "ts-plain-save") == ["first", "second"]
        lock.cleanup("ts-plain-save", 0)
    await saved_conversation(trackers, "ts-late-save", ["first"])
    step = step_of(store, "ts-late-save", "third", None, new_results())
    with_replies(store, step)
    with waiting(step):
        assert lock.issue_ticket("ts-late-save", 60) == 0
        lock.cleanup("ts-late-save", 0)  # given back: a later save is the store's own
        await handled(trackers, "ts-late-save", "third")
        assert stored_texts(redis_server.port, trackers, "ts-late-save") == ["first", "third"]


async def test_the_tracker_is_read_with_the_ticket_only_from_this_module_s_store_on_the_same_database(
    redis_server: RedisServer, store: HandoffStore
) -> None:
    class Agent:
        def __init__(self, tracker_store: Any) -> None:
            self.tracker_store = tracker_store

    same = tracker_store(redis_server.port)
    assert sharing_key_prefix(Agent(same), await store.place_marker()) == same.key_prefix
    assert sharing_key_prefix(Agent(AwaitableTrackerStore(same)), await store.place_marker()) == same.key_prefix
    other_db = tracker_store(redis_server.port, db=1)
    assert sharing_key_prefix(Agent(other_db), await store.place_marker()) is None
    rasa_own = RedisTrackerStore(Domain.load("domain.yml"), port=redis_server.port)
    assert sharing_key_prefix(Agent(rasa_own), await store.place_marker()) is None
    assert sharing_key_prefix(None, await store.place_marker()) is None

"""The Redis store against a real redis-server and against a real three-node
Redis Cluster: transitions, refusals, races. Every test runs on both."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from channels.handoff.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from channels.handoff.keys import KeySpace
from channels.handoff.output import HandoffCollector
from channels.handoff.redis_pipe import PipelinedRedis
from channels.handoff.settings import DeskSettings, StoredSettings
from channels.handoff.store import (
    RECORDERS,
    Admission,
    FeedEvent,
    HandoffStore,
    Quota,
    RecordingBatch,
    RedisClient,
    TrainingExample,
    _load_script,
    _text,
    now_ms,
)


@pytest.fixture
def store(store_redis: RedisClient, pipes_for: Callable[[], PipelinedRedis | None]) -> HandoffStore:
    """This suite's store: on a single Redis (its scripts through redis-py, then on
    a pipelined connection), then on a Redis Cluster."""
    return HandoffStore(store_redis, pipe=pipes_for(), feed_pipe=pipes_for())


async def waiting_conversation(store: HandoffStore, conversation_id: str = "c1") -> None:
    await store.receive_customer_message(conversation_id, "asdf qwer")
    assert await store.start_waiting(conversation_id, "nlu_fallback")


async def test_first_message_creates_a_bot_conversation(store: HandoffStore) -> None:
    result = await store.receive_customer_message("c1", "hello")
    assert result.state == "bot"
    assert not result.resume_pending
    conversation = await store.require_conversation("c1")
    assert conversation.state == "bot"
    assert conversation.last_message == "hello"
    transcript = await store.transcript("c1")
    assert [(m.author, m.text) for m in transcript] == [("customer", "hello")]
    assert transcript[0].id == result.message_id


Admit = Callable[[HandoffStore, str, "str | None", str, "Quota | None"], Awaitable["str | None"]]


async def admit_alone(
    store: HandoffStore, sender: str, token: str | None, new_token: str, quota: Quota | None = None
) -> str | None:
    return await store.authenticate_customer(sender, token, new_token, quota)


async def admit_with_message(
    store: HandoffStore, sender: str, token: str | None, new_token: str, quota: Quota | None = None
) -> str | None:
    """The admission made in the message's own step: a refused message is not stored."""
    stored = await store.redis.xlen(store.keys.messages(sender))
    admission = Admission(token, new_token, quota or Quota("-", 0))
    try:
        incoming = await store.receive_customer_message(sender, "hello", admission=admission)
    except (Unauthorized, TooManyRequests):
        assert await store.redis.xlen(store.keys.messages(sender)) == stored
        raise
    assert await store.redis.xlen(store.keys.messages(sender)) == stored + 1
    return incoming.issued_token


@pytest.fixture(params=[admit_alone, admit_with_message], ids=["alone", "with_message"])
def admit(request: pytest.FixtureRequest) -> Admit:
    """A customer request let in on its own, or in the same step as its message."""
    return request.param  # type: ignore[no-any-return]


async def test_customer_token_is_bound_on_first_use(store: HandoffStore, admit: Admit) -> None:
    assert await admit(store, "c1", None, "secret-1", None) == "secret-1"
    assert await admit(store, "c1", "secret-1", "unused", None) is None
    with pytest.raises(Unauthorized) as missing:
        await admit(store, "c1", None, "secret-2", None)
    assert missing.value.code == "missing_token"
    with pytest.raises(Unauthorized) as wrong:
        await admit(store, "c1", "secret-2", "secret-3", None)
    assert wrong.value.code == "invalid_token"


async def test_start_waiting_queues_longest_waiting_first(store: HandoffStore) -> None:
    for conversation_id in ("first", "second", "third"):
        await waiting_conversation(store, conversation_id)
        await asyncio.sleep(0.002)
    waiting = await store.list_conversations("waiting", "a1")
    assert [c.id for c in waiting] == ["first", "second", "third"]
    assert all(c.state == "waiting" and c.reason == "nlu_fallback" for c in waiting)
    assert waiting[0].waiting_since is not None and waiting[0].waiting_since <= (waiting[2].waiting_since or 0)


async def test_start_waiting_twice_changes_nothing(store: HandoffStore) -> None:
    await waiting_conversation(store)
    before = await store.require_conversation("c1")
    assert not await store.start_waiting("c1", "request_human")
    after = await store.require_conversation("c1")
    assert after == before


async def test_start_waiting_unknown_conversation(store: HandoffStore) -> None:
    with pytest.raises(NotFound):
        await store.start_waiting("nobody", "nlu_fallback")


async def test_claim_assigns_and_leaves_waiting(store: HandoffStore) -> None:
    await waiting_conversation(store)
    conversation = await store.claim("c1", "alice", "Alice")
    assert conversation.state == "assigned"
    assert conversation.agent == "alice"
    assert await store.list_conversations("waiting", "alice") == []
    assert [c.id for c in await store.list_conversations("mine", "alice")] == ["c1"]
    assert await store.list_conversations("mine", "bob") == []
    system = (await store.customer_messages("c1", None))[-1]
    assert system.author == "system" and system.data["event"] == "agent_joined"


async def test_second_claim_names_the_winner(store: HandoffStore) -> None:
    await waiting_conversation(store)
    await store.claim("c1", "alice", "Alice")
    with pytest.raises(Conflict) as refused:
        await store.claim("c1", "bob", "Bob")
    assert refused.value.code == "already_assigned"
    assert refused.value.details["agent"] == "alice"
    assert (await store.require_conversation("c1")).agent == "alice"


async def test_claim_refusals(store: HandoffStore) -> None:
    with pytest.raises(NotFound):
        await store.claim("nobody", "alice", "Alice")
    await store.receive_customer_message("c1", "hello")
    with pytest.raises(Conflict) as with_bot:
        await store.claim("c1", "alice", "Alice")
    assert with_bot.value.code == "not_waiting"
    assert (await store.require_conversation("c1")).state == "bot"


async def test_a_claim_over_the_agents_quota_is_refused_and_changes_nothing(store: HandoffStore) -> None:
    await waiting_conversation(store)
    quota = Quota("agent:alice", 3)
    await asyncio.sleep(1.02 - time.time() % 1)  # just into a new second: all below fits in it
    second = int(time.time())
    assert [await store.count_request(quota.subject, second) for _ in range(3)] == [1, 2, 3]
    events = await store.last_event_id()
    with pytest.raises(TooManyRequests) as over:
        await store.claim("c1", "alice", "Alice", quota=quota)
    assert int(time.time()) == second, "the second ended too early to tell"
    assert (over.value.status, over.value.code) == (429, "rate_limited")
    assert (await store.require_conversation("c1")).state == "waiting"
    assert await store.last_event_id() == events
    await asyncio.sleep(1.02 - time.time() % 1)
    assert (await store.claim("c1", "alice", "Alice", quota=quota)).agent == "alice"
    assert await store.count_request(quota.subject, int(time.time())) == 2  # the claim counted


@pytest.mark.parametrize("agents", [2, 300])
async def test_concurrent_claims_have_exactly_one_winner(
    store_redis: RedisClient, pipes_for: Callable[[], PipelinedRedis | None], agents: int
) -> None:
    stores = [HandoffStore(store_redis, pipe=pipes_for()) for _ in range(4)]  # as four processes
    for round_number in range(5):
        conversation_id = f"race-{round_number}"
        await waiting_conversation(stores[0], conversation_id)

        async def attempt(index: int, conversation_id: str = conversation_id) -> str:
            try:
                await stores[index % 4].claim(conversation_id, f"agent-{index}", f"Agent {index}")
                return f"agent-{index}"
            except Conflict as refused:
                assert refused.code == "already_assigned"
                return ""

        winners = [w for w in await asyncio.gather(*(attempt(i) for i in range(agents))) if w]
        assert len(winners) == 1
        assert (await stores[0].require_conversation(conversation_id)).agent == winners[0]


async def test_agent_message_only_from_the_owner(store: HandoffStore) -> None:
    await waiting_conversation(store)
    with pytest.raises(Conflict) as not_assigned:
        await store.add_agent_message("c1", "alice", "Alice", "hi")
    assert not_assigned.value.code == "not_assigned"
    await store.claim("c1", "alice", "Alice")
    message = await store.add_agent_message("c1", "alice", "Alice", "Hi, I'm Alice")
    with pytest.raises(Forbidden):
        await store.add_agent_message("c1", "bob", "Bob", "me too")
    to_customer = await store.customer_messages("c1", None)
    assert to_customer[-1].id == message.id
    assert (to_customer[-1].author, to_customer[-1].text) == ("agent", "Hi, I'm Alice")
    assert "me too" not in [m.text for m in await store.transcript("c1")]


async def test_release_by_owner_returns_to_bot(store: HandoffStore) -> None:
    await waiting_conversation(store)
    await store.claim("c1", "alice", "Alice")
    with pytest.raises(Forbidden):
        await store.release("c1", "bob")
    assert await store.release("c1", "alice") == "alice"
    conversation = await store.require_conversation("c1")
    assert conversation.state == "bot" and conversation.agent is None
    assert await store.list_conversations("mine", "alice") == []
    incoming = await store.receive_customer_message("c1", "hello again")
    assert incoming.state == "bot" and incoming.resume_pending
    await store.finish_resume("c1")
    assert not (await store.receive_customer_message("c1", "and again")).resume_pending


async def test_forced_release_and_refusals(store: HandoffStore) -> None:
    with pytest.raises(NotFound):
        await store.release("nobody", "alice")
    await waiting_conversation(store)
    with pytest.raises(Conflict) as waiting:
        await store.release("c1", "alice")
    assert waiting.value.code == "not_assigned"
    await store.claim("c1", "alice", "Alice")
    assert await store.release("c1", "supervisor", force=True) == "alice"
    with pytest.raises(Conflict):
        await store.release("c1", "alice")


async def test_messages_after_an_id_are_ordered_and_exclusive(store: HandoffStore) -> None:
    await waiting_conversation(store)
    await store.claim("c1", "alice", "Alice")
    sent = [await store.add_agent_message("c1", "alice", "Alice", f"m{i}") for i in range(5)]
    after = await store.customer_messages("c1", sent[1].id)
    assert [m.text for m in after] == ["m2", "m3", "m4"]
    assert [m.id for m in after] == sorted(m.id for m in after)


async def test_bot_messages_join_the_transcript(store: HandoffStore) -> None:
    await store.receive_customer_message("c1", "hi")
    ids = await store.add_bot_messages("c1", [("Hello!", {}), ("How can I help?", {"buttons": [{"title": "x"}]})])
    assert len(ids) == 2
    transcript = await store.transcript("c1")
    assert [(m.author, m.text) for m in transcript] == [
        ("customer", "hi"),
        ("bot", "Hello!"),
        ("bot", "How can I help?"),
    ]
    assert transcript[2].data == {"buttons": [{"title": "x"}]}
    assert await store.add_bot_messages("c1", []) == []


async def test_the_collector_stores_each_reply_the_customer_sees_as_rasa_sends_it(store: HandoffStore) -> None:
    await store.receive_customer_message("c1", "hi")
    collector = HandoffCollector(functools.partial(store.start_bot_message, "c1"))
    await collector.send_text_message("c1", "Hello!\n\nHow can I help?")  # Rasa's collector splits it in two
    await collector.send_custom_json("c1", {"handoff": {"reason": "nlu_fallback"}})  # a control message
    buttons = [{"title": "Track", "payload": "/track"}]
    await collector.send_response("c1", {"text": "Pick one", "buttons": buttons})
    ids = await collector.stored_ids()
    transcript = await store.transcript("c1")
    assert [(m.author, m.text) for m in transcript] == [
        ("customer", "hi"),
        ("bot", "Hello!"),
        ("bot", "How can I help?"),
        ("bot", "Pick one"),
    ]
    assert ids == [m.id for m in transcript[1:]]
    assert transcript[3].data == {"buttons": buttons}
    assert collector.handoff_requests == [{"reason": "nlu_fallback"}]
    assert collector.entries == [("Hello!", {}), ("How can I help?", {}), ("Pick one", {"buttons": buttons})]
    assert await collector.stored_ids() == []  # each stored once


async def test_feed_records_every_step(store: HandoffStore) -> None:
    start = await store.last_event_id()
    await waiting_conversation(store)
    await store.claim("c1", "alice", "Alice")
    await store.add_agent_message("c1", "alice", "Alice", "hi")
    await store.release("c1", "alice")
    events = await store.events_after(start)
    kinds = [(e.type, e.data.get("from")) for e in events]
    assert kinds == [
        ("message", "customer"),
        ("waiting", None),
        ("claimed", None),
        ("message", "system"),
        ("message", "agent"),
        ("released", None),
        ("message", "system"),
    ]
    assert "token" not in events[1].data
    assert [e.id for e in await store.events_after(events[3].id)] == [e.id for e in events[4:]]


async def test_scripts_reload_after_script_flush(store: HandoffStore, store_redis: RedisClient) -> None:
    await waiting_conversation(store)
    sha = hashlib.sha1(_load_script("claim").encode()).hexdigest()
    if isinstance(store_redis, RedisCluster):
        for node in store_redis.get_primaries():
            await store_redis.execute_command("SCRIPT FLUSH", target_nodes=node)
            assert await store_redis.execute_command("SCRIPT EXISTS", sha, target_nodes=node) == [False]
    else:
        await store_redis.script_flush()
        assert await store_redis.script_exists(sha) == [False]
    conversation = await store.claim("c1", "alice", "Alice")
    assert conversation.agent == "alice"


async def test_views(store: HandoffStore) -> None:
    await store.receive_customer_message("with-bot", "hello")
    await waiting_conversation(store, "waiting-1")
    await waiting_conversation(store, "mine-1")
    await store.claim("mine-1", "alice", "Alice")
    assert [c.id for c in await store.list_conversations("live", "alice")] == ["with-bot"]
    assert [c.id for c in await store.list_conversations("waiting", "alice")] == ["waiting-1"]
    assert [c.id for c in await store.list_conversations("mine", "alice")] == ["mine-1"]
    assert {c.id for c in await store.list_conversations("all", "alice")} == {"with-bot", "waiting-1", "mine-1"}
    with pytest.raises(ValueError):
        await store.list_conversations("everything", "alice")


async def test_idempotent_request_reservation(store: HandoffStore) -> None:
    assert await store.reserve_request("c1", "m-1") is None
    with pytest.raises(Conflict):
        await store.reserve_request("c1", "m-1")
    await store.store_answer("c1", "m-1", {"state": "bot"})
    assert await store.reserve_request("c1", "m-1") == {"state": "bot"}
    await store.forget_request("c1", "m-2")
    assert await store.reserve_request("c1", "m-2") is None


async def test_training_examples_are_deduplicated(store: HandoffStore) -> None:
    example = TrainingExample("where is my stuff", "order_status", "alice", "c1", 1)
    assert await store.add_training_example(example)
    assert not await store.add_training_example(example)
    assert await store.add_training_example(TrainingExample("refund pls", "return_item", "bob", "c2", 2))
    assert [(e.intent, e.text) for e in await store.training_examples()] == [
        ("order_status", "where is my stuff"),
        ("return_item", "refund pls"),
    ]


async def test_training_example_edits_and_concurrent_merges(store: HandoffStore) -> None:
    example = TrainingExample("where is my stuff", "order_status", "alice", "c1", 1)
    agents = [f"agent-{i}" for i in range(20)]
    added = await asyncio.gather(
        *(store.add_training_example(TrainingExample(example.text, example.intent, a, "c1", 1)) for a in agents)
    )
    assert added.count(True) == 1
    stored = await store.training_example(example.id)
    assert stored is not None and set(stored.contributors or ()) == set(agents)
    edited = TrainingExample("where is my parcel", "order_status", "alice", "c1", 1)
    await store.replace_training_example(example.id, edited)
    assert [e.text for e in await store.training_examples()] == ["where is my parcel"]
    assert await store.training_example(example.id) is None


async def test_reading_and_customer_details(store: HandoffStore) -> None:
    incoming = await store.receive_customer_message("c1", "where is my order")
    start = await store.last_event_id()
    await store.add_reading("c1", incoming.message_id, {"intent": "order_status", "confidence": 0.9})
    [event] = await store.events_after(start)
    assert (event.type, event.conversation_id) == ("reading", "c1")
    assert event.data == {"message_id": incoming.message_id, "reading": {"intent": "order_status", "confidence": 0.9}}
    [message] = await store.transcript("c1", readings=True)
    assert message.data["reading"]["intent"] == "order_status"
    assert await store.update_customer_details("c1", {"name": "Ann", "email": "a@example.com"}) == {
        "name": "Ann",
        "email": "a@example.com",
    }
    assert await store.update_customer_details("c1", {"email": None, "plan": "gold"}) == {"name": "Ann", "plan": "gold"}
    assert await store.update_customer_details("c1", {}) == {"name": "Ann", "plan": "gold"}


async def test_live_feed_blocking_read(store: HandoffStore) -> None:
    start = await store.last_event_id()
    assert await store.wait_for_entries(start, block_ms=50) == []
    waiter = asyncio.create_task(store.wait_for_entries(start, block_ms=5000))
    await asyncio.sleep(0.05)
    await store.receive_customer_message("c1", "hello")
    [event] = [FeedEvent.from_stream(entry_id, fields) for entry_id, fields in await waiter]
    assert (event.type, event.data["text"]) == ("message", "hello")


def test_every_key_of_one_bot_is_in_one_cluster_slot() -> None:
    keys = KeySpace(bot="shop")
    found = []
    for name, member in inspect.getmembers(KeySpace):
        if name.startswith("_") or name == "base":
            continue
        if isinstance(member, property):
            found.append(getattr(keys, name))
        elif inspect.isfunction(member):
            arguments = [f"x{i}" for i in range(len(inspect.signature(member).parameters) - 1)]
            found.append(getattr(keys, name)(*arguments))
    assert len(found) > 10
    assert {key_slot(key.encode()) for key in found} == {key_slot(b"{shop}")}


# -- transfer, takeover, return to the bot; capacity; the queue's reads --------------


async def assigned_conversation(store: HandoffStore, conversation_id: str, agent_id: str, agent_name: str) -> None:
    await waiting_conversation(store, conversation_id)
    await store.claim(conversation_id, agent_id, agent_name)


def steps(events: list[FeedEvent]) -> list[tuple[str, str | None]]:
    """Each event's type, and for a message who wrote it."""
    return [(e.type, e.data.get("from") if e.type == "message" else None) for e in events]


async def test_transfer_to_another_agent(store: HandoffStore) -> None:
    await assigned_conversation(store, "c1", "alice", "Alice")
    before = await store.require_conversation("c1")
    await asyncio.sleep(0.002)
    start = await store.last_event_id()
    assert await store.transfer("c1", "alice", "bob", "Bob") == "alice"
    after = await store.require_conversation("c1")
    assert (after.state, after.agent, after.agent_name) == ("assigned", "bob", "Bob")
    assert after.claimed_at is not None and before.claimed_at is not None and after.claimed_at > before.claimed_at
    assert (after.waiting_since, after.reason, after.handoffs) == (before.waiting_since, "nlu_fallback", 1)
    assert await store.agent_conversations("alice") == []
    assert await store.agent_conversations("bob") == ["c1"]
    assert await store.agent_loads(["alice", "bob"]) == {"alice": 0, "bob": 1}
    assert [c.id for c in await store.list_conversations("mine", "bob")] == ["c1"]
    assert await store.list_conversations("mine", "alice") == []
    assert await store.count_waiting() == 0
    events = await store.events_after(start)
    assert steps(events) == [("transferred", None), ("message", "system")]
    assert (events[0].conversation_id, events[0].data["state"], events[0].data["agent"]) == ("c1", "assigned", "bob")
    assert events[0].data["agent_name"] == "Bob" and "token" not in events[0].data
    system = (await store.transcript("c1"))[-1]
    assert (system.author, system.text) == ("system", "Bob took over the chat.")
    assert system.data == {"event": "transferred", "agent_name": "Bob"}
    assert events[1].data["id"] == system.id
    with pytest.raises(Forbidden):
        await store.add_agent_message("c1", "alice", "Alice", "still me?")
    assert (await store.add_agent_message("c1", "bob", "Bob", "Bob here")).text == "Bob here"


async def test_transfer_back_to_the_queue_keeps_its_place(store: HandoffStore) -> None:
    # "zeta" waits first: by name it would sort last, by a fresh score it would go last.
    await waiting_conversation(store, "zeta")
    original = await store.require_conversation("zeta")
    await asyncio.sleep(0.005)
    await waiting_conversation(store, "alpha")
    await store.claim("zeta", "alice", "Alice")
    assert [c.id for c in await store.list_conversations("waiting", "bob")] == ["alpha"]
    await asyncio.sleep(0.005)
    start = await store.last_event_id()
    assert await store.transfer("zeta", "alice", None) == "alice"
    requeued = await store.require_conversation("zeta")
    assert (requeued.state, requeued.agent, requeued.agent_name, requeued.claimed_at) == ("waiting", None, None, None)
    assert (requeued.waiting_since, requeued.reason, requeued.handoffs) == (original.waiting_since, "nlu_fallback", 1)
    assert [c.id for c in await store.list_conversations("waiting", "bob")] == ["zeta", "alpha"]
    assert (await store.waiting_position("zeta"), await store.waiting_position("alpha")) == (1, 2)
    assert await store.count_waiting() == 2
    assert original.waiting_since is not None
    assert await store.waiting_since_before(original.waiting_since + 1) == [("zeta", original.waiting_since)]
    assert await store.agent_conversations("alice") == []
    assert await store.list_conversations("mine", "alice") == []
    events = await store.events_after(start)
    assert steps(events) == [("requeued", None), ("message", "system")]
    assert events[0].data["state"] == "waiting" and events[0].data["requeued_reason"] == "transfer"
    assert "agent" not in events[0].data and events[0].data["waiting_since"] == str(original.waiting_since)
    system = (await store.transcript("zeta"))[-1]
    assert (system.author, system.text) == ("system", "You're back in the queue; a colleague will be with you shortly.")
    assert system.data == {"event": "transferred", "agent_name": ""}
    # Back in the queue, it is claimable again, and a customer message meets "waiting".
    assert (await store.receive_customer_message("zeta", "hello?")).state == "waiting"
    assert (await store.claim("zeta", "bob", "Bob")).agent == "bob"
    assert [c.id for c in await store.list_conversations("waiting", "bob")] == ["alpha"]


async def test_forced_transfer_to_the_queue_names_its_reason(store: HandoffStore) -> None:
    await assigned_conversation(store, "c1", "alice", "Alice")
    await store.receive_customer_message("older", "hello?")  # waited before c1 came back...
    await store.start_waiting("older", "nlu_fallback")
    await store.redis.zadd(store.keys.waiting, {"older": 1})  # ...since long before c1 first waited
    start = await store.last_event_id()
    assert await store.transfer("c1", "sweeper", None, force=True, max_chats=1, reason="agent_offline") == "alice"
    assert (await store.require_conversation("c1")).state == "waiting"
    assert await store.waiting_position("c1") == 1  # its agent left it: the top of Waiting
    assert [c.id for c in await store.list_conversations("waiting", "bob")] == ["c1", "older"]
    assert await store.agent_conversations("alice") == []
    [requeued, _] = await store.events_after(start)
    assert (requeued.type, requeued.data["requeued_reason"]) == ("requeued", "agent_offline")


async def test_transfer_refusals(store: HandoffStore) -> None:
    with pytest.raises(NotFound) as unknown:
        await store.transfer("nobody", "alice", "bob", "Bob")
    assert unknown.value.code == "unknown_conversation"
    assert await store.get_conversation("nobody") is None
    await store.receive_customer_message("with-bot", "hello")
    with pytest.raises(Conflict) as with_bot:
        await store.transfer("with-bot", "alice", "bob", "Bob", force=True)
    assert (with_bot.value.code, with_bot.value.details) == ("not_assigned", {"state": "bot"})
    await waiting_conversation(store, "waiting")
    with pytest.raises(Conflict) as waiting:
        await store.transfer("waiting", "alice", None, force=True)
    assert (waiting.value.code, waiting.value.details) == ("not_assigned", {"state": "waiting"})
    await assigned_conversation(store, "c1", "alice", "Alice")
    start = await store.last_event_id()
    with pytest.raises(Conflict) as same:
        await store.transfer("c1", "alice", "alice", "Alice")
    assert same.value.code == "same_agent"
    with pytest.raises(Conflict) as same_forced:
        await store.transfer("c1", "supervisor", "alice", "Alice", force=True)
    assert same_forced.value.code == "same_agent"
    for target in ("carol", None):
        with pytest.raises(Forbidden) as not_owner:
            await store.transfer("c1", "bob", target, "Carol" if target else None)
        assert (not_owner.value.code, not_owner.value.details) == ("not_your_conversation", {"agent": "alice"})
    conversation = await store.require_conversation("c1")
    assert (conversation.state, conversation.agent) == ("assigned", "alice")
    assert await store.agent_conversations("alice") == ["c1"]
    assert await store.agent_conversations("carol") == []
    assert await store.list_conversations("waiting", "bob") == [await store.require_conversation("waiting")]
    assert await store.events_after(start) == []
    # A supervisor may move someone else's conversation.
    assert await store.transfer("c1", "supervisor", "carol", "Carol", force=True) == "alice"
    assert ((await store.require_conversation("c1")).agent, await store.agent_conversations("carol")) == (
        "carol",
        ["c1"],
    )
    assert await store.agent_conversations("alice") == []


async def test_transfer_to_a_full_agent_is_refused(store: HandoffStore) -> None:
    await assigned_conversation(store, "c1", "alice", "Alice")
    await assigned_conversation(store, "c2", "bob", "Bob")
    start = await store.last_event_id()
    transcript = await store.transcript("c1")
    with pytest.raises(Conflict) as full:
        await store.transfer("c1", "alice", "bob", "Bob", max_chats=1)
    assert (full.value.code, full.value.details) == ("capacity_reached", {"chats": 1})
    conversation = await store.require_conversation("c1")
    assert (conversation.state, conversation.agent) == ("assigned", "alice")
    # The script took it out of the owner's set before counting: it must be back.
    assert await store.agent_conversations("alice") == ["c1"]
    assert await store.agent_conversations("bob") == ["c2"]
    assert await store.events_after(start) == []
    assert await store.transcript("c1") == transcript
    assert await store.transfer("c1", "alice", "bob", "Bob", max_chats=2) == "alice"
    assert await store.agent_loads(["alice", "bob"]) == {"alice": 0, "bob": 2}


async def test_transfer_when_the_owner_changes_meanwhile(store: HandoffStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between reading the owner and the script, another transfer moves the
    conversation: the script refuses ("owner_changed") and the store reads again."""
    await assigned_conversation(store, "c1", "alice", "Alice")
    read_owner = store._owner
    other = HandoffStore(store.redis)
    moves = ["carol"]  # who the conversation goes to behind the next transfer's back
    seen: list[str] = []

    async def owner_then_race(conversation_id: str) -> str:
        owner = await read_owner(conversation_id)
        seen.append(owner)
        if moves:
            target = moves.pop(0)
            assert await other.transfer(conversation_id, owner, target, target.title()) == owner
        return owner

    monkeypatch.setattr(store, "_owner", owner_then_race)
    # Alice's own transfer now meets Carol as the owner: refused, not done behind Carol's back.
    with pytest.raises(Forbidden) as refused:
        await store.transfer("c1", "alice", "bob", "Bob")
    assert (seen, refused.value.code, refused.value.details) == (
        ["alice", "carol"],
        "not_your_conversation",
        {"agent": "carol"},
    )
    assert ((await store.require_conversation("c1")).agent, await store.agent_conversations("bob")) == ("carol", [])
    # A supervisor's forced move retries against the new owner and empties the right set.
    seen.clear()
    moves.append("dave")
    assert await store.transfer("c1", "supervisor", None, force=True) == "dave"
    assert seen == ["carol", "dave"]
    conversation = await store.require_conversation("c1")
    assert (conversation.state, conversation.agent) == ("waiting", None)
    assert await store.agent_loads(["alice", "bob", "carol", "dave"]) == {"alice": 0, "bob": 0, "carol": 0, "dave": 0}
    assert await store.waiting_position("c1") == 1


async def test_transfer_gives_up_when_the_owner_keeps_changing(
    store: HandoffStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await assigned_conversation(store, "c1", "alice", "Alice")

    async def stale_owner(conversation_id: str) -> str:
        return "somebody-else"

    monkeypatch.setattr(store, "_owner", stale_owner)
    with pytest.raises(Conflict) as busy:
        await store.transfer("c1", "alice", "bob", "Bob")
    assert busy.value.code == "busy"
    with pytest.raises(Conflict) as busy_release:
        await store.release("c1", "alice")
    assert busy_release.value.code == "busy"
    conversation = await store.require_conversation("c1")
    assert (conversation.state, conversation.agent) == ("assigned", "alice")
    assert await store.agent_conversations("alice") == ["c1"]


async def test_takeover_from_the_bot(store: HandoffStore) -> None:
    await store.receive_customer_message("c1", "hello")
    start = await store.last_event_id()
    taken = await store.takeover("c1", "alice", "Alice")
    assert (taken.state, taken.agent, taken.agent_name, taken.reason, taken.handoffs) == (
        "assigned",
        "alice",
        "Alice",
        "takeover",
        1,
    )
    assert taken.claimed_at is not None and taken.waiting_since == taken.claimed_at
    assert await store.require_conversation("c1") == taken
    assert await store.agent_conversations("alice") == ["c1"]
    assert [c.id for c in await store.list_conversations("mine", "alice")] == ["c1"]
    assert await store.list_conversations("live", "alice") == []
    assert (await store.count_waiting(), await store.waiting_position("c1")) == (0, None)
    events = await store.events_after(start)
    assert steps(events) == [("claimed", None), ("message", "system")]
    assert (events[0].data["state"], events[0].data["agent"], events[0].data["reason"]) == (
        "assigned",
        "alice",
        "takeover",
    )
    system = (await store.transcript("c1"))[-1]
    assert (system.author, system.text, system.data) == (
        "system",
        "Alice joined the chat.",
        {"event": "agent_joined", "agent_name": "Alice"},
    )
    incoming = await store.receive_customer_message("c1", "are you a human?")
    assert (incoming.state, incoming.resume_pending) == ("assigned", False)
    assert (await store.add_agent_message("c1", "alice", "Alice", "Yes")).text == "Yes"


async def test_takeover_cancels_a_pending_resume(store: HandoffStore) -> None:
    await assigned_conversation(store, "c1", "alice", "Alice")
    await store.release("c1", "alice")
    assert await store.resume_pending("c1") == "action_bot_assigned"
    taken = await store.takeover("c1", "bob", "Bob")
    assert (taken.state, taken.agent, taken.handoffs) == ("assigned", "bob", 2)
    assert await store.resume_pending("c1") is None
    assert not (await store.receive_customer_message("c1", "hi")).resume_pending
    assert (await store.agent_conversations("alice"), await store.agent_conversations("bob")) == ([], ["c1"])


async def test_takeover_refusals(store: HandoffStore) -> None:
    with pytest.raises(NotFound) as unknown:
        await store.takeover("nobody", "alice", "Alice")
    assert unknown.value.code == "unknown_conversation"
    assert await store.get_conversation("nobody") is None
    await waiting_conversation(store, "waiting")
    await assigned_conversation(store, "assigned", "bob", "Bob")
    start = await store.last_event_id()
    with pytest.raises(Conflict) as waiting:
        await store.takeover("waiting", "alice", "Alice")
    assert (waiting.value.code, waiting.value.details) == ("not_with_bot", {"state": "waiting"})
    with pytest.raises(Conflict) as assigned:
        await store.takeover("assigned", "alice", "Alice")
    assert (assigned.value.code, assigned.value.details) == ("not_with_bot", {"state": "assigned"})
    assert (await store.require_conversation("waiting")).state == "waiting"
    assert await store.waiting_position("waiting") == 1
    assert (await store.require_conversation("assigned")).agent == "bob"
    assert await store.agent_conversations("alice") == []
    assert await store.events_after(start) == []
    # Bob is full at one chat.
    await store.receive_customer_message("with-bot", "hello")
    start = await store.last_event_id()
    with pytest.raises(Conflict) as full:
        await store.takeover("with-bot", "bob", "Bob", max_chats=1)
    assert (full.value.code, full.value.details) == ("capacity_reached", {"chats": 1})
    conversation = await store.require_conversation("with-bot")
    assert (conversation.state, conversation.agent, conversation.handoffs) == ("bot", None, 0)
    assert await store.agent_conversations("bob") == ["assigned"]
    assert await store.events_after(start) == []
    assert (await store.takeover("with-bot", "bob", "Bob", max_chats=2)).agent == "bob"
    assert await store.agent_conversations("bob") == ["assigned", "with-bot"]


async def test_return_to_bot_from_waiting(store: HandoffStore) -> None:
    await waiting_conversation(store, "c1")
    await asyncio.sleep(0.002)
    await waiting_conversation(store, "later")
    start = await store.last_event_id()
    assert await store.return_to_bot("c1", "customer", "You're back with the assistant.")
    conversation = await store.require_conversation("c1")
    assert (conversation.state, conversation.agent, conversation.waiting_since, conversation.reason) == (
        "bot",
        None,
        None,
        None,
    )
    assert conversation.handoffs == 1
    assert [c.id for c in await store.list_conversations("waiting", "alice")] == ["later"]
    assert (await store.waiting_position("c1"), await store.waiting_position("later")) == (None, 1)
    assert await store.count_waiting() == 1
    assert [c.id for c in await store.list_conversations("live", "alice")] == ["c1"]
    assert await store.resume_pending("c1") == "action_bot_assigned"
    events = await store.events_after(start)
    assert steps(events) == [("released", None), ("message", "system")]
    released = events[0].data
    assert (released["state"], released["abandoned"], released["cause"], released["released_by"]) == (
        "bot",
        True,
        "customer",
        "customer",
    )
    assert released["resume_pending"] == "action_bot_assigned" and "waiting_since" not in released
    system = (await store.transcript("c1"))[-1]
    assert (system.author, system.text, system.data) == (
        "system",
        "You're back with the assistant.",
        {"event": "back_to_bot", "cause": "customer"},
    )
    # The resume is owed until the bot side says it is done.
    incoming = await store.receive_customer_message("c1", "thanks")
    assert (incoming.state, incoming.resume_action) == ("bot", "action_bot_assigned")
    await store.finish_resume("c1")
    assert await store.resume_pending("c1") is None
    assert (await store.receive_customer_message("c1", "bye")).resume_action is None


async def test_return_to_bot_only_for_the_expected_wait(store: HandoffStore) -> None:
    await waiting_conversation(store, "c1")
    since = (await store.require_conversation("c1")).waiting_since
    assert since is not None
    start = await store.last_event_id()
    for other in (since - 1, since + 1):
        assert not await store.return_to_bot(
            "c1", "claim_timeout", "Nobody could take the chat in time.", "action_no_agents_online", other
        )
    conversation = await store.require_conversation("c1")
    assert (conversation.state, conversation.waiting_since) == ("waiting", since)
    assert await store.waiting_position("c1") == 1
    assert await store.resume_pending("c1") is None
    assert await store.events_after(start) == []
    assert await store.return_to_bot(
        "c1", "claim_timeout", "Nobody could take the chat in time.", "action_no_agents_online", since
    )
    assert (await store.require_conversation("c1")).state == "bot"
    assert await store.resume_pending("c1") == "action_no_agents_online"
    events = await store.events_after(start)
    assert steps(events) == [("released", None), ("message", "system")]
    assert (events[0].data["cause"], events[0].data["released_by"]) == ("claim_timeout", "claim_timeout")
    assert (events[1].data["text"], events[1].data["event"], events[1].data["cause"]) == (
        "Nobody could take the chat in time.",
        "back_to_bot",
        "claim_timeout",
    )
    # A new wait is not the one the expectation named.
    await store.finish_resume("c1")
    await asyncio.sleep(0.002)
    assert await store.start_waiting("c1", "request_human")
    renewed = await store.require_conversation("c1")
    assert renewed.waiting_since is not None and renewed.waiting_since > since and renewed.handoffs == 2
    assert not await store.return_to_bot("c1", "claim_timeout", "Nobody.", "action_no_agents_online", since)
    assert (await store.require_conversation("c1")).state == "waiting"
    assert await store.return_to_bot("c1", "claim_timeout", "Nobody.", "action_no_agents_online", renewed.waiting_since)


async def test_return_to_bot_refusals(store: HandoffStore) -> None:
    with pytest.raises(NotFound) as unknown:
        await store.return_to_bot("nobody", "customer", "You're back with the assistant.")
    assert unknown.value.code == "unknown_conversation"
    assert await store.get_conversation("nobody") is None
    await store.receive_customer_message("with-bot", "hello")
    await assigned_conversation(store, "assigned", "alice", "Alice")
    start = await store.last_event_id()
    assert not await store.return_to_bot("with-bot", "customer", "You're back with the assistant.")
    assert not await store.return_to_bot("assigned", "customer", "You're back with the assistant.")
    assert (await store.require_conversation("with-bot")).state == "bot"
    assert await store.resume_pending("with-bot") is None
    assigned = await store.require_conversation("assigned")
    assert (assigned.state, assigned.agent) == ("assigned", "alice")
    assert await store.agent_conversations("alice") == ["assigned"]
    assert await store.events_after(start) == []


async def test_timeout_notice_is_once_per_wait(store: HandoffStore) -> None:
    await waiting_conversation(store, "c1")
    assert await store.mark_once("c1", "timeout_notified")
    assert not await store.mark_once("c1", "timeout_notified")
    # Requeued by a transfer: the same wait goes on, already noticed.
    await store.claim("c1", "alice", "Alice")
    await store.transfer("c1", "alice", None)
    assert not await store.mark_once("c1", "timeout_notified")
    # Back to the bot, then waiting anew: a new wait gets its own notice.
    assert await store.return_to_bot("c1", "customer", "You're back with the assistant.")
    assert await store.start_waiting("c1", "request_human")
    assert await store.mark_once("c1", "timeout_notified")
    # Served by an agent and handed back, then waiting anew: the same.
    await store.claim("c1", "alice", "Alice")
    await store.release("c1", "alice")
    assert await store.start_waiting("c1", "request_human")
    assert await store.mark_once("c1", "timeout_notified")


async def test_claim_capacity_and_the_stored_desk_setting(store: HandoffStore) -> None:
    await assigned_conversation(store, "c1", "alice", "Alice")
    await waiting_conversation(store, "c2")
    start = await store.last_event_id()
    with pytest.raises(Conflict) as full:
        await store.claim("c2", "alice", "Alice", max_chats=1)
    assert (full.value.code, full.value.details) == ("capacity_reached", {"chats": 1})
    assert (await store.require_conversation("c2")).state == "waiting"
    assert (await store.waiting_position("c2"), await store.agent_conversations("alice")) == (1, ["c1"])
    assert await store.events_after(start) == []
    # The desk's stored limit wins over the caller's.
    await store.save_desk_settings(DeskSettings(max_chats_per_agent=2))
    assert (await store.desk_settings(DeskSettings())).max_chats_per_agent == 2
    assert (await store.claim("c2", "alice", "Alice", max_chats=1)).agent == "alice"
    await waiting_conversation(store, "c3")
    with pytest.raises(Conflict) as stored_limit:
        await store.claim("c3", "alice", "Alice", max_chats=0)
    assert (stored_limit.value.code, stored_limit.value.details) == ("capacity_reached", {"chats": 2})
    await store.save_desk_settings(DeskSettings(max_chats_per_agent=0))
    assert (await store.claim("c3", "alice", "Alice", max_chats=1)).agent == "alice"
    assert await store.agent_loads(["alice"]) == {"alice": 3}


async def test_agents_presence_and_status(store: HandoffStore) -> None:
    assert await store.agents(60_000) == []
    await store.touch_agent("alice", "Alice", "agent")
    await store.touch_agent("sue", "Sue", "supervisor")
    await store.set_agent_status("sue", "away")
    await store.set_agent_status("carol", "offline")  # chose offline, never connected
    found = {a["id"]: (a["name"], a["role"], a["status"]) for a in await store.agents(60_000)}
    assert found == {"alice": ("Alice", "agent", "online"), "sue": ("Sue", "supervisor", "away")}

    async def live_desk(defaults: DeskSettings) -> tuple[DeskSettings, int] | None:
        """The desk a message for the bot reads in its own step."""
        return (await store.receive_customer_message("c9", "hello", desk=defaults)).desk

    desk = DeskSettings(offline_grace_s=60)
    assert await live_desk(desk) == (desk, 1)  # the settings and the count in one script
    await store.save_desk_settings(DeskSettings(offline_grace_s=60, max_chats_per_agent=7))
    assert await live_desk(DeskSettings()) == (DeskSettings(offline_grace_s=60, max_chats_per_agent=7), 1)
    assert await store.agents_gone_since(now_ms() - 60_000) == ["carol"]
    await store.set_agent_status("alice", "offline")
    assert (await live_desk(desk)) == (DeskSettings(offline_grace_s=60, max_chats_per_agent=7), 0)
    # A message for the bot reads the desk in its own step; one for a human, or not asked, does not.
    assert (await store.receive_customer_message("c9", "again")).desk is None  # not asked
    await waiting_conversation(store, "c10")
    assert (await store.receive_customer_message("c10", "still there?", desk=DeskSettings())).desk is None
    assert await store.agents_gone_since(now_ms() - 60_000) == ["alice", "carol"]
    await asyncio.sleep(0.005)
    assert {a["id"]: a["status"] for a in await store.agents(1)} == {"alice": "offline", "sue": "offline"}
    assert await store.agents_gone_since(now_ms()) == ["alice", "carol", "sue"]


async def test_the_desk_read_with_each_bot_message_follows_every_change(store: HandoffStore) -> None:
    """The stored settings are parsed once per change, not once per message: an unchanged
    read gives the same parsed settings, and a change (or other defaults) is seen by the
    next message."""
    defaults = DeskSettings()

    async def live_desk(text: str, given: DeskSettings = defaults) -> DeskSettings:
        incoming = await store.receive_customer_message("c11", text, desk=given)
        assert incoming.desk is not None
        return incoming.desk[0]

    hours = {"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]}
    saved = defaults.updated({"office_hours": hours, "max_chats_per_agent": 3, "no_agents_policy": "bot"})
    await store.save_desk_settings(saved)
    first = await live_desk("hello")
    assert first == saved
    assert await live_desk("again") is first  # the same parse, not a new one
    assert await store.desk_settings(defaults) is first
    changed = saved.updated({"max_chats_per_agent": 4})
    await store.save_desk_settings(changed)
    assert await live_desk("and again") == changed
    await store.redis.delete(store.keys.settings)
    assert await live_desk("now the defaults", DeskSettings(offline_grace_s=5)) == DeskSettings(offline_grace_s=5)


def test_the_parsed_settings_do_not_depend_on_the_order_redis_gives_the_fields() -> None:
    """A hash with a long value is a hash table in Redis, whose fields come in an order
    that changes as it rehashes: the same fields in another order are the same settings."""
    defaults = DeskSettings()
    saved = defaults.updated({"max_chats_per_agent": 3, "no_agents_policy": "bot"}).to_redis()
    pairs = [(name.encode(), str(value).encode()) for name, value in saved.items()]
    memo = StoredSettings()
    first = memo.parsed(pairs, defaults, _text)
    assert first.max_chats_per_agent == 3
    assert memo.parsed(reversed(pairs), defaults, _text) is first
    changed = [pair if pair[0] != b"max_chats_per_agent" else (pair[0], b"5") for pair in pairs]
    assert memo.parsed(changed, defaults, _text).max_chats_per_agent == 5


async def test_customer_token_verify_and_unbind(store: HandoffStore) -> None:
    with pytest.raises(Unauthorized) as unknown:
        await store.verify_customer("c1", "anything")
    assert unknown.value.code == "invalid_token"
    assert await store.authenticate_customer("c1", None, "secret") == "secret"
    await store.verify_customer("c1", "secret")
    with pytest.raises(Unauthorized) as wrong:
        await store.verify_customer("c1", "guess")
    assert wrong.value.code == "invalid_token"
    await store.unbind_customer_token("c1", "guess")  # not the bound token: kept
    await store.verify_customer("c1", "secret")
    await store.unbind_customer_token("c1", "secret")
    with pytest.raises(Unauthorized):
        await store.verify_customer("c1", "secret")
    assert await store.authenticate_customer("c1", None, "retry") == "retry"
    await store.verify_customer("c1", "retry")


async def test_earlier_answers_notes_canned_responses(store: HandoffStore) -> None:
    assert await store.ping()
    assert await store.oldest_event_id() is None
    assert await store.reserve_request("c1", "m-1") is None
    assert await store.earlier_answer("c1", "m-1") is None  # still pending
    await store.store_answer("c1", "m-1", {"state": "waiting"})
    assert await store.earlier_answer("c1", "m-1") == {"state": "waiting"}
    assert await store.earlier_answer("c1", "m-2") is None
    await store.add_note("c1", {"by": "alice", "text": "VIP"})
    await store.add_note("c1", {"by": "bob", "text": "called back"})
    assert [n["text"] for n in await store.notes("c1")] == ["VIP", "called back"]
    assert await store.notes("c2") == []
    await store.save_canned_response({"id": "r2", "shortcut": "thanks", "text": "Thank you!"})
    await store.save_canned_response({"id": "r1", "shortcut": "hello", "text": "Hi there"})
    await store.save_canned_response({"id": "r1", "shortcut": "hi", "text": "Hello!"})
    assert [(r["id"], r["shortcut"]) for r in await store.canned_responses()] == [("r1", "hi"), ("r2", "thanks")]
    assert await store.delete_canned_response("r1")
    assert not await store.delete_canned_response("r1")
    assert [r["id"] for r in await store.canned_responses()] == ["r2"]
    incoming = await store.receive_customer_message("c1", "hello")
    first = await store.oldest_event_id()
    [event] = await store.events_after("0-0")
    assert first == event.id and event.data["id"] == incoming.message_id


async def test_the_recording_queue_hands_each_notice_to_one_recorder(store: HandoffStore) -> None:
    await store.join_recorders()
    await store.join_recorders()  # a second process joins the same group
    await waiting_conversation(store, "c1")
    await store.receive_customer_message("c1", "first", metadata={"page": "/orders"})
    await store.receive_customer_message("c1", "second")
    await store.receive_customer_message("with-bot", "not for the queue")
    first = await store.next_recordings("one", block_ms=100)
    assert [conversation for _, conversation in first] == ["c1", "c1"]
    assert await store.next_recordings("two", block_ms=100) == []  # each notice goes to one consumer
    queued = await store.pending_recordings("c1")
    assert [(m.author, m.text, metadata) for m, metadata in queued.messages] == [
        ("customer", "first", {"page": "/orders"}),
        ("customer", "second", {}),
    ]
    # "one" dies without acknowledging: "two" takes its notices over once they idled long enough.
    assert await store.stalled_recordings("two", idle_ms=60_000) == []
    await asyncio.sleep(0.05)
    taken = await store.stalled_recordings("two", idle_ms=10)
    assert sorted(taken) == sorted(first)
    await store.receive_customer_message("c1", "third")
    stale = RecordingBatch(queued.messages[:1], queued.entries[:1])
    await store.forget_recordings("c1", stale)
    await store.forget_recordings("c1", stale)  # a second recorder with the same batch takes nothing more
    assert [m.text for m, _ in (await store.pending_recordings("c1")).messages] == ["second", "third"]
    for notice_id, _ in taken:
        await store.recording_done(notice_id)
    assert await store.stalled_recordings("two", idle_ms=0) == []


async def test_recorders_that_left_or_went_silent_are_forgotten_once_their_work_is_done(
    store: HandoffStore,
) -> None:
    assert await store.forget_recorders("nobody", idle_ms=0) == 0  # no group yet
    await store.join_recorders()
    await waiting_conversation(store, "c1")
    await store.receive_customer_message("c1", "recorded")
    [(done, _)] = await store.next_recordings("quiet", block_ms=100)
    await store.recording_done(done)
    await store.receive_customer_message("c1", "queued")
    [(notice, _)] = await store.next_recordings("busy", block_ms=100)

    async def members() -> list[str]:
        # (In a script: redis-py 4.6 cannot route XINFO on a Cluster.)
        names = (
            "local n = {} for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1]))"
            " do n[#n + 1] = c[2] end return n"
        )
        found = await store.redis.eval(names, 1, store.keys.recordings, RECORDERS)  # type: ignore[misc]
        return sorted(_text(name) for name in found)

    assert await store.forget_recorders(idle_ms=60_000) == 0  # both heard from just now
    assert await store.forget_recorders("busy", idle_ms=0) == 1  # "quiet" (nothing pending) goes
    assert await members() == ["busy"]  # its notice unfinished: it stays, for a takeover
    await store.recording_done(notice)
    assert await store.forget_recorders("busy", idle_ms=60_000) == 1
    assert await members() == []


async def test_pages_built_in_redis_equal_the_parsed_lists(store: HandoffStore) -> None:
    """The agents' lists answered as JSON made by a script are the same conversations,
    fields and values as the lists built in Python."""
    for index in range(7):
        await waiting_conversation(store, f"w{index}")
    await store.receive_customer_message("odd", 'quotes " and \\ backslash, a / slash, a\ttab, ünïcode, emoji 😀')
    assert await store.start_waiting("odd", "request_human")
    await store.claim("w3", "alice", "Alice")
    await store.receive_customer_message("bot-only", "hello")
    await store.release("w3", "alice")
    for view in ("waiting", "live", "all"):
        for limit, offset in ((100, 0), (3, 0), (3, 3), (5, 50)):
            built = json.loads(await store.conversation_page_json(view, limit, offset))
            parsed = [c.to_dict() for c in await store.list_conversations(view, "alice", limit, offset)]
            assert built == parsed, (view, limit, offset)
    assert len(json.loads(await store.conversation_page_json("waiting"))) == 7
    assert await store.conversation_page_json("live", 100, 50) == b"[]"  # an empty page is a list


async def test_a_page_counts_its_request_and_is_refused_over_the_limit(store: HandoffStore) -> None:
    await waiting_conversation(store, "w1")
    quota = Quota("agent:alice", 2)
    await asyncio.sleep(1.02 - time.time() % 1)  # all below in one second
    assert [c["id"] for c in json.loads(await store.conversation_page_json("waiting", quota=quota))] == ["w1"]
    assert [c["id"] for c in json.loads(await store.conversation_page_json("all", quota=quota))] == ["w1"]
    with pytest.raises(TooManyRequests) as over:
        await store.conversation_page_json("waiting", quota=quota)
    assert over.value.details["retry_after_s"] == 1
    # Another caller's budget is their own.
    assert len(json.loads(await store.conversation_page_json("live", quota=Quota("agent:bob", 2)))) == 0


async def test_customer_requests_count_only_for_the_owner_of_the_sender(store: HandoffStore, admit: Admit) -> None:
    quota = Quota("customer:c1", 2)
    await asyncio.sleep(1.02 - time.time() % 1)  # all below in one second
    second = int(time.time())
    assert await admit(store, "c1", None, "secret", quota) == "secret"  # 1st request, token bound
    for _ in range(3):  # a wrong token is refused and not counted: the owner's budget is untouched
        with pytest.raises(Unauthorized):
            await admit(store, "c1", "guess", "unused", quota)
    assert await admit(store, "c1", "secret", "unused", quota) is None  # 2nd
    with pytest.raises(TooManyRequests):
        await admit(store, "c1", "secret", "unused", quota)  # 3rd
    assert int(time.time()) == second, "the second ended too early to tell"
    assert await store.count_request(quota.subject, second) == 4  # the refused third counted too
    # A sender's first request over the budget binds no token.
    await store.count_request("customer:c2", second)
    with pytest.raises(TooManyRequests):
        await admit(store, "c2", None, "lost", Quota("customer:c2", 1))
    assert await admit(store, "c2", None, "kept", None) == "kept"


async def test_a_message_step_arguments_are_strings_with_its_data_and_metadata_as_json(store: HandoffStore) -> None:
    """The step's arguments, as the script reads them: an empty or missing dict is `{}`,
    a full one its JSON; numbers as decimal strings."""
    admission = Admission(None, "new.token", Quota("customer:s", 7))
    _, bare = store.customer_message_step("s", "hi", None, {}, admission, DeskSettings(offline_grace_s=45))
    _, full = store.customer_message_step("s", "hi", {"message_id": "m1"}, {"page": "faq"}, admission)
    assert all(isinstance(arg, str) for arg in bare + full)
    assert (bare[2], bare[5], bare[9], bare[10]) == ("{}", "{}", "7", "45")
    assert (json.loads(full[2]), json.loads(full[5]), full[10]) == ({"message_id": "m1"}, {"page": "faq"}, "")
    assert abs(int(bare[3]) - now_ms()) < 60_000 and bare[4] == str(store.feed_maxlen)


def test_keys_start_with_the_prefix_kept_for_the_key_space_which_compares_by_its_fields() -> None:
    used, fresh = KeySpace(bot="shop"), KeySpace(bot="shop")
    assert used.conversation("c1") == "handoff:{shop}:conv:c1"
    assert used == fresh and hash(used) == hash(fresh) and used != KeySpace(bot="other")
    assert KeySpace(bot="other", prefix="p").messages("c1") == "p:{other}:msgs:c1"

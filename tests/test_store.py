"""The Redis store against a real redis-server and against a real three-node
Redis Cluster: transitions, refusals, races. Every test runs on both."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from channels.handoff.errors import Conflict, Forbidden, NotFound, Unauthorized
from channels.handoff.keys import KeySpace
from channels.handoff.store import HandoffStore, RedisClient, TrainingExample, _load_script


@pytest.fixture
def store(store_redis: RedisClient) -> HandoffStore:
    """This suite's store: on a single Redis, then on a Redis Cluster."""
    return HandoffStore(store_redis)


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


async def test_customer_token_is_bound_on_first_use(store: HandoffStore) -> None:
    assert await store.authenticate_customer("c1", None, "secret-1") == "secret-1"
    assert await store.authenticate_customer("c1", "secret-1", "unused") is None
    with pytest.raises(Unauthorized) as missing:
        await store.authenticate_customer("c1", None, "secret-2")
    assert missing.value.code == "missing_token"
    with pytest.raises(Unauthorized) as wrong:
        await store.authenticate_customer("c1", "secret-2", "secret-3")
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


@pytest.mark.parametrize("agents", [2, 300])
async def test_concurrent_claims_have_exactly_one_winner(store_redis: RedisClient, agents: int) -> None:
    stores = [HandoffStore(store_redis) for _ in range(4)]
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
    assert await store.wait_for_events(start, block_ms=50) == []
    waiter = asyncio.create_task(store.wait_for_events(start, block_ms=5000))
    await asyncio.sleep(0.05)
    await store.receive_customer_message("c1", "hello")
    [event] = await waiter
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

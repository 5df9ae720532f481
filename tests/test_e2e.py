"""End to end: the trained model, `rasa run` (two processes on one Redis), the
action server and Redis, driven over HTTP and the WebSockets."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from channels.handoff.lock_store import _script as lock_script
from channels.handoff.redis_pipe import script_sha
from channels.handoff.store import _load_script
from tests.api_client import ApiClient, LiveSocket, is_message
from tests.channel_server import agent_token
from tests.stack import SHOP_ORIGIN, Stack, response_text

pytestmark = pytest.mark.e2e


async def tracker_events(stack: Stack, http: aiohttp.ClientSession, sender: str) -> list[dict[str, Any]]:
    async with http.get(f"{stack.rasa[0].base}/conversations/{sender}/tracker") as answer:
        assert answer.status == 200
        events: list[dict[str, Any]] = (await answer.json())["events"]
        return events


async def eventually(check: Any, timeout_s: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.2)


async def test_the_whole_handoff(
    stack: Stack, first: ApiClient, second: ApiClient, http: aiohttp.ClientSession
) -> None:
    """gibberish → handover → Waiting → two agents click, one wins → chat both
    ways → /restart is just text → release → bot-assigned → the bot answers."""
    sender = "e2e-customer-1"
    alice, bob = agent_token("alice"), agent_token("bob")
    alice_feed = await LiveSocket.open(f"{stack.rasa[0].ws}/agent/ws", alice)
    bob_feed = await LiveSocket.open(f"{stack.rasa[1].ws}/agent/ws", bob)
    assert alice_feed.ready["type"] == "ready" and bob_feed.ready["agent"]["id"] == "bob"

    # The bot answers ordinary questions.
    status, answer = await first.say(sender, "hello")
    assert status == 200, answer
    assert answer["state"] == "bot"
    assert [m["text"] for m in answer["messages"]] == [response_text("utter_greet")]
    customer = answer["customer_token"]

    # Gibberish: the handover message, and the customer waits.
    status, answer = await first.say(sender, "xkcd qwfp zzvb blorf", customer)
    assert status == 200, answer
    assert answer["state"] == "waiting"
    assert [m["text"] for m in answer["messages"]] == [response_text("utter_agent_fallback")]
    for feed in (alice_feed, bob_feed):
        waiting = await feed.next(lambda f: f.get("event") == "waiting" and f["conversation"] == sender)
        assert waiting["data"]["state"] == "waiting"
    for api, token in ((first, alice), (second, bob)):
        status, listed = await api.request("GET", "/agent/conversations?view=waiting", token=token)
        assert status == 200 and sender in [c["id"] for c in listed["conversations"]]

    # While waiting, the bot is silent.
    status, answer = await second.say(sender, "hello?", customer)
    assert (status, answer["state"], answer["messages"]) == (200, "waiting", [])

    # Two agents click Start Chat at once, on two servers: exactly one wins.
    results = await asyncio.gather(
        first.request("POST", f"/agent/conversations/{sender}/claim", token=alice),
        second.request("POST", f"/agent/conversations/{sender}/claim", token=bob),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    winner = next(body for status, body in results if status == 200)["agent"]
    loser_answer = next(body for status, body in results if status == 409)
    assert loser_answer["error"] == "already_assigned" and loser_answer["agent"] == winner
    winner_token, winner_api = (alice, first) if winner == "alice" else (bob, second)
    for api, token in ((first, alice), (second, bob)):
        status, listed = await api.request("GET", "/agent/conversations?view=waiting", token=token)
        assert sender not in [c["id"] for c in listed["conversations"]]

    # The customer listens on the other server from here on.
    customer_feed = await LiveSocket.open(f"{stack.rasa[1].ws}/customer/ws", customer, after="0-0")
    assert customer_feed.ready["state"] == "assigned"
    await customer_feed.next(is_message("bot", response_text("utter_agent_fallback")))

    # Chat both ways.
    status, sent = await winner_api.request(
        "POST", f"/agent/conversations/{sender}/messages", {"text": "Hi, I'm here to help."}, winner_token
    )
    assert status == 201, sent
    await customer_feed.next(is_message("agent", "Hi, I'm here to help."))
    winner_feed = alice_feed if winner == "alice" else bob_feed
    for text in ("/restart", "/greet", "my parcel never came"):
        status, answer = await first.say(sender, text, customer)
        assert (status, answer["state"], answer["messages"]) == (200, "assigned", [])
        await winner_feed.next(is_message("customer", text))
    status, polled = await first.request("GET", "/customer/messages?after=0-0", token=customer)
    assert status == 200
    assert [m["text"] for m in polled["messages"] if m["from"] == "agent"] == ["Hi, I'm here to help."]

    # Release: the customer gets the bot-assigned message, and the bot answers again.
    status, released = await winner_api.request("POST", f"/agent/conversations/{sender}/release", token=winner_token)
    assert status == 200, released
    assert released["state"] == "bot" and released["agent"] is None
    await customer_feed.next(is_message("bot", response_text("utter_bot_assigned")))
    status, answer = await second.say(sender, "hello", customer)
    assert status == 200 and answer["state"] == "bot"
    assert [m["text"] for m in answer["messages"]] == [response_text("utter_greet")]

    # The transcript holds both parts, in order.
    status, conversation = await first.request("GET", f"/agent/conversations/{sender}", token=alice)
    assert status == 200
    texts = [(m["from"], m["text"]) for m in conversation["transcript"]]
    expected_in_order = [
        ("customer", "xkcd qwfp zzvb blorf"),
        ("bot", response_text("utter_agent_fallback")),
        ("agent", "Hi, I'm here to help."),
        ("customer", "/restart"),
        ("bot", response_text("utter_bot_assigned")),
        ("customer", "hello"),
        ("bot", response_text("utter_greet")),
    ]
    remaining = iter(texts)
    assert all(pair in remaining for pair in expected_in_order), texts
    # Every customer message carries the bot's reading, those the bot answered too (from the tracker).
    customer_part = [m for m in conversation["transcript"] if m["from"] == "customer"]
    assert customer_part[0]["text"] == "hello" and customer_part[0]["reading"]["intent"] == "greet"
    assert customer_part[-1]["text"] == "hello" and customer_part[-1]["reading"]["intent"] == "greet"

    # Rasa's tracker holds the human part too, and the bot was never restarted.
    async def human_part_recorded() -> list[dict[str, Any]] | None:
        events = await tracker_events(stack, http, sender)
        user_texts = [e.get("text") for e in events if e["event"] == "user"]
        return events if "my parcel never came" in user_texts else None

    events = await eventually(human_part_recorded)
    assert events, "the customer's messages during the handoff were not recorded in the tracker"
    assert not any(e["event"] == "restart" for e in events)
    agent_utterances = [e for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("agent")]
    assert [e["text"] for e in agent_utterances] == ["Hi, I'm here to help."]
    for feed in (alice_feed, bob_feed, customer_feed):
        await feed.close()


async def test_a_chat_widget_on_another_site_may_call_the_handoff(first: ApiClient) -> None:
    """`rasa run --cors <origin>` covers the handoff's routes too: the preflight and
    the answers name the allowed origin, and no other origin."""
    webhook = f"{first.base}/webhook"
    preflight_headers = {
        "Origin": SHOP_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    async with first.session.options(webhook, headers=preflight_headers) as preflight:
        assert preflight.status < 300
        assert preflight.headers.get("Access-Control-Allow-Origin") == SHOP_ORIGIN
        assert "POST" in preflight.headers.get("Access-Control-Allow-Methods", "")
    message = {"sender": "cors-customer", "message": "hello"}
    async with first.session.post(webhook, json=message, headers={"Origin": SHOP_ORIGIN}) as answer:
        assert answer.status == 200
        assert answer.headers.get("Access-Control-Allow-Origin") == SHOP_ORIGIN
        token = (await answer.json())["customer_token"]
    elsewhere = {"Origin": "https://elsewhere.example", "Authorization": f"Bearer {token}"}
    async with first.session.post(webhook, json=message, headers=elsewhere) as answer:
        assert answer.status == 200
        assert "Access-Control-Allow-Origin" not in answer.headers
    async with first.session.get(f"{first.base}/agent/me", headers={"Origin": SHOP_ORIGIN}) as refused:
        assert refused.status == 401  # errors carry the headers too, so the widget can read them
        assert refused.headers.get("Access-Control-Allow-Origin") == SHOP_ORIGIN


async def test_asking_for_a_human_and_disabling_handoff(first: ApiClient) -> None:
    admin = agent_token("root", role="admin")
    status, answer = await first.say("e2e-customer-2", "I want to talk to a real person")
    assert status == 200 and answer["state"] == "waiting"
    status, conversation = await first.request("GET", "/agent/conversations/e2e-customer-2", token=admin)
    assert conversation["reason"] == "request_human"

    status, settings = await first.request("PUT", "/agent/settings", {"enabled": False}, admin)
    assert (status, settings["enabled"]) == (200, False)
    try:
        status, answer = await first.say("e2e-customer-3", "xkcd qwfp zzvb blorf")
        assert status == 200 and answer["state"] == "bot"
        assert [m["text"] for m in answer["messages"]] == [response_text("utter_handoff_disabled")]
    finally:
        await first.request("PUT", "/agent/settings", {"enabled": True}, admin)


async def test_the_desk_policies_reach_the_customer_through_the_bot(first: ApiClient) -> None:
    """Nobody online (offline at once) and outside office hours, through the real actions."""
    admin = agent_token("root", role="admin")
    _, before = await first.request("GET", "/agent/settings", token=admin)
    try:
        changes = {"offline_grace_s": 0, "no_agents_policy": "bot"}
        assert (await first.request("PATCH", "/agent/settings", changes, admin))[0] == 200
        status, answer = await first.say("e2e-policy-1", "xkcd qwfp zzvb blorf")
        assert (status, answer["state"]) == (200, "bot")
        assert [m["text"] for m in answer["messages"]] == [response_text("utter_no_agents_online")]

        assert (await first.request("PATCH", "/agent/settings", {"no_agents_policy": "wait"}, admin))[0] == 200
        status, answer = await first.say("e2e-policy-2", "xkcd qwfp zzvb blorf")
        assert (status, answer["state"]) == (200, "waiting")
        texts = [m["text"] for m in answer["messages"]]
        assert texts == [response_text("utter_agent_fallback"), response_text("utter_waiting_no_agents")]

        closed_all_week = {"timezone": "Pacific/Auckland", "weekly": {}, "holidays": []}
        changes = {"office_hours": closed_all_week, "out_of_hours_policy": "bot"}
        assert (await first.request("PATCH", "/agent/settings", changes, admin))[0] == 200
        status, answer = await first.say("e2e-policy-3", "xkcd qwfp zzvb blorf")
        assert (status, answer["state"]) == (200, "bot")
        assert [m["text"] for m in answer["messages"]] == [response_text("utter_out_of_office_hours")]
    finally:
        await first.request("PUT", "/agent/settings", before, admin)


async def test_a_bot_message_goes_with_rasas_lock_ticket_both_ways(stack: Stack, first: ApiClient) -> None:
    """With endpoints.yml's lock store on the channel's Redis, the customer message's
    step (let in, stored, state and live settings read) and Rasa's ticket for the
    conversation's lock are one script: one round trip before Rasa's handling, not two;
    the ticket, served at once, brings the tracker, which Rasa then neither loads nor
    merges its save with by reading it again; and the bot's replies, with Rasa's save of
    the tracker, are stored in the script that gives the ticket back."""
    sender = "e2e-one-round-trip"
    step_sha = script_sha(_load_script("customer_message_ticket"))
    release_sha = script_sha(_load_script("bot_messages_release"))
    plain = ("customer_message", "bot_messages")
    plain_shas = {script_sha(_load_script(name)) for name in plain} | {
        script_sha(lock_script(name)) for name in ("issue_ticket", "finish_serving")
    }
    redis = Redis.from_url(stack.redis.url)
    kept = (await redis.config_get("slowlog-log-slower-than"))["slowlog-log-slower-than"]
    await redis.config_set("slowlog-log-slower-than", 0)
    try:
        await first.say(
            f"{sender}-before", "hello"
        )  # the scripts loaded (a first EVALSHA is refused, then logged again)
        await redis.slowlog_reset()
        status, answer = await first.say(sender, "hello")
        logged = await redis.slowlog_get(1000)
    finally:
        await redis.config_set("slowlog-log-slower-than", kept)
        await redis.close()
    assert status == 200 and answer["state"] == "bot", answer
    assert [m["text"] for m in answer["messages"]] == [response_text("utter_greet")]
    calls = [[a.decode() for a in entry["command"].split()] for entry in logged]
    mine = [c[1] for c in calls if c[0].upper() == "EVALSHA" and sender in " ".join(c)]
    assert mine.count(step_sha) == 1 and mine.count(release_sha) == 1, calls
    assert not plain_shas & set(mine), calls
    tracker_reads = [c for c in calls if c[0].upper() == "GET" and c[1].startswith("tracker") and sender in c[1]]
    assert len(tracker_reads) == 1, calls  # in the step's script (Rasa alone would read it twice)
    tracker_writes = [
        entry
        for entry, call in zip(logged, calls, strict=True)
        if call[0].upper() == "SET" and call[1].startswith("tracker") and call[1].endswith(sender)
    ]
    assert [entry["client_address"] for entry in tracker_writes] == [b"?:0"], calls  # by the script, once
    status, found = await first.request("GET", "/customer/messages", token=answer["customer_token"])
    assert status == 200 and [m["id"] for m in found["messages"]] == [m["id"] for m in answer["messages"]]


async def test_messages_let_in_behind_others_take_a_bare_ticket_with_the_tracker(
    stack: Stack, first: ApiClient
) -> None:
    """Customers sending at once with message ids: each message is let in and reserved
    before its turn in Rasa's line, so the ones read meanwhile find others ahead and are
    stored at once. When their turn comes, their ticket (lua/bot_ticket.lua) still brings
    the tracker and its return stores the replies: no message takes Rasa's plain ticket,
    each tracker is read once, and every answer is the bot's."""
    senders = [f"e2e-burst-{i}" for i in range(8)]
    tokens: dict[str, str] = {}
    for sender in senders:  # sessions open (the action server), tokens issued
        status, answer = await first.say(sender, "hello")
        assert status == 200, answer
        tokens[sender] = answer["customer_token"]
    scripts = ("customer_message", "customer_message_ticket", "bot_ticket", "bot_messages", "bot_messages_release")
    shas = {script_sha(_load_script(name)): name for name in scripts}
    shas |= {script_sha(lock_script(name)): f"lock {name}" for name in ("issue_ticket", "finish_serving")}
    redis = Redis.from_url(stack.redis.url)
    kept = await redis.config_get("slowlog-*")
    await redis.config_set("slowlog-max-len", 100_000)  # every command of the burst, all clients'
    await redis.config_set("slowlog-log-slower-than", 0)
    try:
        for name in scripts:  # known to Redis: a first EVALSHA would be refused, then logged again
            await redis.script_load(_load_script(name))
        await redis.slowlog_reset()
        answers = await asyncio.gather(*(first.say(s, "hello", tokens[s], message_id=f"{s}-2") for s in senders))
        logged = await redis.slowlog_get(100_000)
    finally:
        for setting in ("slowlog-log-slower-than", "slowlog-max-len"):
            await redis.config_set(setting, kept[setting])
        await redis.close()
    for status, answer in answers:
        assert status == 200 and answer["state"] == "bot", answer
        assert [m["text"] for m in answer["messages"]] == [response_text("utter_greet")]
    calls = [[a.decode() for a in entry["command"].split()] for entry in reversed(logged)]  # oldest first
    taken: dict[str, list[str]] = {}
    for sender in senders:
        mine = [c for c in calls if c[0].upper() == "EVALSHA" and any(sender in a for a in c)]
        taken[sender] = [shas[c[1]] for c in mine if c[1] in shas]
        assert taken[sender].count("bot_messages_release") == 1, taken
        assert taken[sender] in (
            ["customer_message_ticket", "bot_messages_release"],
            ["customer_message", "bot_ticket", "bot_messages_release"],
        ), taken
    assert any("bot_ticket" in scripts for scripts in taken.values()), taken  # some waited in line
    for sender in senders:  # read once, with the ticket (Rasa alone would read it twice)
        reads = [c for c in calls if c[0].upper() == "GET" and c[1].startswith("tracker") and c[1].endswith(sender)]
        assert reads == [["GET", f"tracker:tracker:{sender}"]], calls

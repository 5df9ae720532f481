"""The agent desk through the API: settings, office hours, presence, capacity,
transfer, takeover, cancelling a wait, queue position, notes, customer details,
canned responses, agent fallback, and the permission matrix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from channels.handoff.settings import OfficeHours
from tests.api_client import LiveSocket, is_message
from tests.channel_server import BOT_ASSIGNED, NO_AGENTS, STILL_WAITING, ChannelServer, agent_token
from tests.redis_server import RedisServer

ALICE, BOB = agent_token("alice"), agent_token("bob")
SUPERVISOR, ADMIN = agent_token("sue", "supervisor"), agent_token("root", "admin")
ALWAYS_OPEN = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


async def settings(channel: ChannelServer, **changes: Any) -> dict[str, Any]:
    status, body = await channel.request("PUT", "/agent/settings", changes, ADMIN)
    assert status == 200, body
    return dict(body)


async def claim(channel: ChannelServer, sender: str, token: str = ALICE) -> tuple[int, Any]:
    return await channel.request("POST", f"/agent/conversations/{sender}/claim", token=token)


@pytest.fixture
async def sweeping(redis_server: RedisServer, redis_client: Any) -> AsyncIterator[ChannelServer]:
    """A channel whose desk sweep runs every 0.2 s."""
    server = ChannelServer(redis_server.url, sweep_interval_s=0.2)
    await server.start()
    yield server
    await server.stop()


async def test_settings_are_validated_and_kept(channel: ChannelServer) -> None:
    status, body = await channel.request("GET", "/agent/settings", token=ALICE)
    assert status == 200 and body["enabled"] is True and body["office_hours"] is None
    invalid: list[dict[str, Any]] = [
        {"no_agents_policy": "panic"},
        {"max_chats_per_agent": -1},
        {"max_chats_per_agent": True},
        {"office_hours": {"timezone": "Mars/Olympus"}},
        {"office_hours": {"weekly": {"mon": [["18:00", "09:00"]]}}},
        {"office_hours": {"weekly": {"someday": []}}},
        {"office_hours": {"holidays": ["25/12/2026"]}},
    ]
    for bad in invalid:
        status, refused = await channel.request("PUT", "/agent/settings", bad, ADMIN)
        assert (status, refused["error"]) == (400, "invalid_setting"), bad
    hours = {"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "18:00"]]}, "holidays": ["2026-12-25"]}
    body = await settings(channel, office_hours=hours, max_chats_per_agent=3, no_agents_policy="bot")
    assert body["office_hours"] == hours and body["max_chats_per_agent"] == 3
    status, again = await channel.request("GET", "/agent/settings", token=BOB)
    assert again == body


async def test_office_hours_reach_the_bot(channel: ChannelServer) -> None:
    await settings(channel, office_hours={"timezone": "UTC", "weekly": ALWAYS_OPEN}, out_of_hours_policy="wait")
    await channel.say("open", "hello")
    stamped = channel.bot.received[-1].metadata["handoff"]
    assert stamped == {"agents_online": 0, "out_of_hours_policy": "wait"}  # open: the default, left out
    today = datetime.now(timezone.utc).date()
    holidays = [today.isoformat(), (today + timedelta(days=1)).isoformat(), (today - timedelta(days=1)).isoformat()]
    await settings(channel, office_hours={"timezone": "UTC", "weekly": ALWAYS_OPEN, "holidays": holidays})
    await channel.say("closed", "hello")
    stamped = channel.bot.received[-1].metadata["handoff"]
    assert stamped["in_office_hours"] is False and stamped["out_of_hours_policy"] == "wait"


async def test_presence_and_agents_online(channel: ChannelServer) -> None:
    _, first = await channel.say("c1", "hello")
    customer = first["customer_token"]
    assert channel.bot.received[-1].metadata["handoff"]["agents_online"] == 0
    feed = await LiveSocket.open(f"{channel.ws_base}/agent/ws", ALICE)
    await asyncio.sleep(0.1)
    status, body = await channel.request("GET", "/agent/agents", token=BOB)
    assert status == 200
    assert [(a["id"], a["status"]) for a in body["agents"]] == [("alice", "online")]
    assert (await channel.say("c1", "hello", customer))[0] == 200
    assert channel.bot.received[-1].metadata["handoff"]["agents_online"] == 1
    status, _ = await channel.request("PUT", "/agent/status", {"status": "away"}, ALICE)
    assert status == 200
    assert (await channel.say("c1", "hello", customer))[0] == 200
    assert channel.bot.received[-1].metadata["handoff"]["agents_online"] == 0
    assert (await channel.request("PUT", "/agent/status", {"status": "asleep"}, ALICE))[0] == 400
    await feed.close()


async def test_capacity_is_enforced_inside_the_claim(channel: ChannelServer) -> None:
    await settings(channel, max_chats_per_agent=1)
    await channel.hand_over("c1")
    await channel.hand_over("c2")
    assert (await claim(channel, "c1"))[0] == 200
    status, body = await claim(channel, "c2")
    assert (status, body["error"], body["chats"]) == (409, "capacity_reached", 1)
    _, waiting = await channel.request("GET", "/agent/conversations?view=waiting", token=ALICE)
    assert [c["id"] for c in waiting["conversations"]] == ["c2"]
    assert (await claim(channel, "c2", BOB))[0] == 200


async def test_transfer_to_an_agent_and_back_to_the_queue(channel: ChannelServer) -> None:
    customer = await channel.hand_over("c1")
    await channel.hand_over("later")
    await claim(channel, "c1")
    path = "/agent/conversations/c1/transfer"
    assert (await channel.request("POST", path, {"agent": "carol"}, BOB))[0] == 403
    status, body = await channel.request("POST", path, {"agent": "bob", "agent_name": "Bob"}, ALICE)
    assert (status, body["agent"], body["state"]) == (200, "bob", "assigned")
    _, mine = await channel.request("GET", "/agent/conversations?view=mine", token=BOB)
    assert [c["id"] for c in mine["conversations"]] == ["c1"]
    assert (await channel.request("POST", "/agent/conversations/c1/messages", {"text": "hi"}, ALICE))[0] == 403
    assert (await channel.request("POST", "/agent/conversations/c1/messages", {"text": "Bob here"}, BOB))[0] == 201
    status, body = await channel.request("POST", path, {"agent": "bob"}, BOB)
    assert (status, body["error"]) == (409, "same_agent")
    status, body = await channel.request("POST", path, {}, SUPERVISOR)
    assert (status, body["state"], body["agent"]) == (200, "waiting", None)
    _, waiting = await channel.request("GET", "/agent/conversations?view=waiting", token=ALICE)
    assert [c["id"] for c in waiting["conversations"]] == ["c1", "later"]
    _, polled = await channel.request("GET", "/customer/messages", token=customer)
    assert [m["event"] for m in polled["messages"] if m["from"] == "system"] == [
        "agent_joined",
        "transferred",
        "transferred",
    ]


async def test_takeover_silences_the_bot(channel: ChannelServer) -> None:
    _, first = await channel.say("c1", "hello")
    customer = first["customer_token"]
    status, body = await channel.request("POST", "/agent/conversations/c1/takeover", token=ALICE)
    assert (status, body["state"], body["agent"], body["reason"]) == (200, "assigned", "alice", "takeover")
    assert "c1" in channel.bridge.paused
    received = len(channel.bot.received)
    status, answer = await channel.say("c1", "hello?", customer)
    assert (status, answer["state"], answer["messages"]) == (200, "assigned", [])
    assert len(channel.bot.received) == received
    await channel.hand_over("c2")
    status, body = await channel.request("POST", "/agent/conversations/c2/takeover", token=BOB)
    assert (status, body["error"]) == (409, "not_with_bot")


async def test_customer_cancels_waiting(channel: ChannelServer) -> None:
    customer = await channel.hand_over("c1")
    status, body = await channel.request("POST", "/customer/cancel", token=customer)
    assert (status, body["state"]) == (200, "bot")
    _, polled = await channel.request("GET", "/customer/messages", token=customer)
    assert [m["text"] for m in polled["messages"]][-1] == BOT_ASSIGNED
    status, answer = await channel.say("c1", "hello", customer)
    assert [m["text"] for m in answer["messages"]] == ["Hi from the bot!"]
    status, body = await channel.request("POST", "/customer/cancel", token=customer)
    assert (status, body["error"]) == (409, "not_waiting")
    assert (await channel.request("POST", "/customer/cancel"))[0] == 401


async def test_queue_position_is_told_and_updated(channel: ChannelServer) -> None:
    positions = []
    tokens = {}
    for sender in ("q1", "q2", "q3"):
        _, answer = await channel.say(sender, "gibberish")
        positions.append(answer["queue_position"])
        tokens[sender] = answer["customer_token"]
    assert positions == [1, 2, 3]
    socket = await LiveSocket.open(f"{channel.ws_base}/customer/ws", tokens["q3"])
    assert (await socket.next(lambda f: f["type"] == "queue"))["position"] == 3
    await claim(channel, "q1")
    assert (await socket.next(lambda f: f["type"] == "queue"))["position"] == 2
    await claim(channel, "q2", BOB)
    assert (await socket.next(lambda f: f["type"] == "queue"))["position"] == 1
    _, answer = await channel.say("q3", "still here", tokens["q3"])
    assert answer["queue_position"] == 1
    await socket.close()


async def test_private_notes_never_reach_the_customer(channel: ChannelServer) -> None:
    customer = await channel.hand_over("c1")
    path = "/agent/conversations/c1/notes"
    status, body = await channel.request("POST", path, {"text": "VIP, be quick"}, ALICE)
    assert status == 201 and body["note"]["agent"] == "alice"
    await claim(channel, "c1", BOB)
    assert (await channel.request("POST", path, {"text": "me too"}, ALICE))[0] == 403
    assert (await channel.request("POST", path, {"text": "mine now"}, BOB))[0] == 201
    assert (await channel.request("POST", path, {"text": "checked"}, SUPERVISOR))[0] == 201
    status, listed = await channel.request("GET", path, token=ALICE)
    assert [n["text"] for n in listed["notes"]] == ["VIP, be quick", "mine now", "checked"]
    _, polled = await channel.request("GET", "/customer/messages", token=customer)
    assert not any("VIP" in m["text"] for m in polled["messages"])
    assert (await channel.request("GET", "/agent/conversations/nobody/notes", token=ALICE))[0] == 404


async def test_customer_details(channel: ChannelServer) -> None:
    await channel.hand_over("c1")
    path = "/agent/conversations/c1/customer"
    status, body = await channel.request("PUT", path, {"name": "Dana", "email": "dana@example.org"}, ALICE)
    assert (status, body["customer"]) == (200, {"name": "Dana", "email": "dana@example.org"})
    status, body = await channel.request("PATCH", path, {"email": None, "order": "A-1001"}, ALICE)
    assert body["customer"] == {"name": "Dana", "order": "A-1001"}
    for bad in ({"Bad Name": "x"}, {"name": 3}, {"name": "x" * 501}):
        assert (await channel.request("PUT", path, bad, ALICE))[0] == 400
    await claim(channel, "c1", BOB)
    assert (await channel.request("PUT", path, {"name": "Eve"}, ALICE))[0] == 403
    assert (await channel.request("GET", path, token=ALICE))[1]["customer"]["name"] == "Dana"


async def test_canned_responses(channel: ChannelServer) -> None:
    response = {"shortcut": "hello", "title": "Greeting", "text": "Hi {customer_name}, I'm {agent_name}."}
    assert (await channel.request("POST", "/agent/canned-responses", response, ALICE))[0] == 403
    status, created = await channel.request("POST", "/agent/canned-responses", response, SUPERVISOR)
    assert status == 201
    response_id = created["canned_response"]["id"]
    await channel.request(
        "POST", "/agent/canned-responses", {"shortcut": "refund", "text": "Refunds take 5 days."}, ADMIN
    )
    status, listed = await channel.request("GET", "/agent/canned-responses", token=ALICE)
    assert [r["shortcut"] for r in listed["canned_responses"]] == ["hello", "refund"]
    _, found = await channel.request("GET", "/agent/canned-responses?q=refunds", token=ALICE)
    assert [r["shortcut"] for r in found["canned_responses"]] == ["refund"]
    edited = {**response, "text": "Hello {customer_name}!"}
    status, body = await channel.request("PUT", f"/agent/canned-responses/{response_id}", edited, SUPERVISOR)
    assert (status, body["canned_response"]["text"]) == (200, "Hello {customer_name}!")
    bad = {"shortcut": "x", "text": "Hi {password}"}
    assert (await channel.request("POST", "/agent/canned-responses", bad, SUPERVISOR))[0] == 400
    assert (await channel.request("PUT", "/agent/canned-responses/nope", edited, SUPERVISOR))[0] == 404
    assert (await channel.request("DELETE", f"/agent/canned-responses/{response_id}", token=ALICE))[0] == 403
    assert (await channel.request("DELETE", f"/agent/canned-responses/{response_id}", token=SUPERVISOR))[0] == 200
    assert (await channel.request("DELETE", f"/agent/canned-responses/{response_id}", token=SUPERVISOR))[0] == 404


async def test_unclaimed_wait_returns_to_the_bot(sweeping: ChannelServer) -> None:
    await settings(sweeping, claim_timeout_s=1, claim_timeout_policy="bot")
    customer = await sweeping.hand_over("c1")
    socket = await LiveSocket.open(f"{sweeping.ws_base}/customer/ws", customer)
    await socket.next(is_message("bot", NO_AGENTS), timeout_s=5)
    _, conversation = await sweeping.request("GET", "/agent/conversations/c1", token=ALICE)
    assert conversation["state"] == "bot"
    _, answer = await sweeping.say("c1", "hello", customer)
    assert [m["text"] for m in answer["messages"]] == ["Hi from the bot!"]
    assert sweeping.bridge.actions.count(("c1", "action_no_agents_online")) == 1
    await socket.close()


async def test_unclaimed_wait_keeps_waiting_and_tells_the_customer_once(sweeping: ChannelServer) -> None:
    await settings(sweeping, claim_timeout_s=1, claim_timeout_policy="wait")
    customer = await sweeping.hand_over("c1")
    socket = await LiveSocket.open(f"{sweeping.ws_base}/customer/ws", customer)
    await socket.next(is_message("bot", STILL_WAITING), timeout_s=5)
    await asyncio.sleep(1)
    assert sweeping.bridge.actions == [("c1", "action_still_waiting")]
    _, conversation = await sweeping.request("GET", "/agent/conversations/c1", token=ALICE)
    assert conversation["state"] == "waiting"
    await socket.close()


async def test_an_agent_who_goes_offline_returns_their_customers_to_the_queue(sweeping: ChannelServer) -> None:
    await settings(sweeping, offline_grace_s=1)
    await sweeping.hand_over("early")  # waiting since before c1 was handed over
    await sweeping.hand_over("c1")
    feed = await LiveSocket.open(f"{sweeping.ws_base}/agent/ws", ALICE)
    assert (await claim(sweeping, "c1"))[0] == 200
    await feed.close()
    watcher = await LiveSocket.open(f"{sweeping.ws_base}/agent/ws", BOB)
    requeued = await watcher.next(lambda f: f.get("event") == "requeued", timeout_s=5)
    assert requeued["conversation"] == "c1" and requeued["data"]["state"] == "waiting"
    _, waiting = await sweeping.request("GET", "/agent/conversations?view=waiting", token=BOB)
    assert [c["id"] for c in waiting["conversations"]] == ["c1", "early"]  # the top of Waiting
    await watcher.close()


async def test_an_agent_who_goes_offline_hands_their_customers_to_the_bot_by_policy(sweeping: ChannelServer) -> None:
    await settings(sweeping, offline_grace_s=1, agent_offline_policy="bot")
    customer = await sweeping.hand_over("c1")
    feed = await LiveSocket.open(f"{sweeping.ws_base}/agent/ws", ALICE)
    assert (await claim(sweeping, "c1"))[0] == 200
    socket = await LiveSocket.open(f"{sweeping.ws_base}/customer/ws", customer)
    await feed.close()
    await socket.next(is_message("bot", NO_AGENTS), timeout_s=5)
    _, conversation = await sweeping.request("GET", "/agent/conversations/c1", token=BOB)
    assert (conversation["state"], conversation["agent"]) == ("bot", None)
    assert sweeping.bridge.actions.count(("c1", "action_no_agents_online")) == 1
    _, polled = await sweeping.request("GET", "/customer/messages", token=customer)
    assert "Your agent had to leave." in [m["text"] for m in polled["messages"] if m["from"] == "system"]
    _, answer = await sweeping.say("c1", "hello", customer)
    assert [m["text"] for m in answer["messages"]] == ["Hi from the bot!"]
    await socket.close()


async def assignee(channel: ChannelServer, sender: str, timeout_s: float = 5.0) -> str | None:
    """Who holds the conversation once auto-assignment had its chance (None: still waiting)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        _, conversation = await channel.request("GET", f"/agent/conversations/{sender}", token=SUPERVISOR)
        if conversation["state"] == "assigned" or asyncio.get_running_loop().time() > deadline:
            return conversation["agent"]
        await asyncio.sleep(0.05)


async def test_auto_assignment_gives_new_customers_to_the_least_loaded_online_agent(channel: ChannelServer) -> None:
    await settings(channel, auto_assign=True)
    consoles = [await LiveSocket.open(f"{channel.ws_base}/agent/ws", t) for t in (ALICE, BOB, agent_token("aaron"))]
    assert (await channel.request("PUT", "/agent/status", {"status": "away"}, agent_token("aaron")))[0] == 200
    customer = await channel.hand_over("c1")
    assert await assignee(channel, "c1") == "alice"  # Aaron is away; Alice and Bob hold none: the first by id
    await channel.hand_over("c2")
    assert await assignee(channel, "c2") == "bob"
    await channel.hand_over("c3")
    assert await assignee(channel, "c3") == "alice"
    _, polled = await channel.request("GET", "/customer/messages", token=customer)
    assert [m["text"] for m in polled["messages"] if m["from"] == "system"] == ["Alice joined the chat."]
    status, body = await claim(channel, "c1", BOB)
    assert (status, body["error"], body["agent"]) == (409, "already_assigned", "alice")
    for console in consoles:
        await console.close()


async def test_auto_assignment_respects_capacity_and_fills_freed_room(sweeping: ChannelServer) -> None:
    await settings(sweeping, auto_assign=True, max_chats_per_agent=1)
    await sweeping.hand_over("c1")
    assert await assignee(sweeping, "c1", timeout_s=1) is None  # nobody online: it waits
    consoles = [await LiveSocket.open(f"{sweeping.ws_base}/agent/ws", t) for t in (ALICE, BOB)]
    assert await assignee(sweeping, "c1") == "alice"  # the sweep finds the agent who came online
    await sweeping.hand_over("c2")
    assert await assignee(sweeping, "c2") == "bob"
    await sweeping.hand_over("c3")
    assert await assignee(sweeping, "c3", timeout_s=1) is None  # both are full
    assert (await sweeping.request("POST", "/agent/conversations/c2/release", token=BOB))[0] == 200
    assert await assignee(sweeping, "c3") == "bob"
    for console in consoles:
        await console.close()


async def test_without_auto_assignment_customers_wait_for_a_claim(sweeping: ChannelServer) -> None:
    console = await LiveSocket.open(f"{sweeping.ws_base}/agent/ws", ALICE)
    await sweeping.hand_over("c1")
    assert await assignee(sweeping, "c1", timeout_s=1) is None
    await console.close()


ROLE_MATRIX = [
    # (method, path, body, minimum role that may act on another agent's conversation)
    ("POST", "/agent/conversations/c1/messages", {"text": "hi"}, None),
    ("POST", "/agent/conversations/c1/release", None, "supervisor"),
    ("POST", "/agent/conversations/c1/transfer", {}, "supervisor"),
    ("POST", "/agent/conversations/c1/notes", {"text": "n"}, "supervisor"),
    ("PUT", "/agent/conversations/c1/customer", {"name": "x"}, "supervisor"),
]


@pytest.mark.parametrize(("method", "path", "body", "least"), ROLE_MATRIX)
async def test_permission_matrix_on_another_agents_conversation(
    channel: ChannelServer, method: str, path: str, body: Any, least: str | None
) -> None:
    await channel.hand_over("c1")
    await claim(channel, "c1", agent_token("owner"))
    for role, token in (("agent", BOB), ("supervisor", SUPERVISOR), ("admin", ADMIN)):
        status, answer = await channel.request(method, path, body, token)
        allowed = least is not None and ["agent", "supervisor", "admin"].index(role) >= [
            "agent",
            "supervisor",
            "admin",
        ].index(least)
        if allowed:
            assert status in (200, 201), (role, path, answer)
            return
        assert (status, answer["error"]) == (403, "not_your_conversation"), (role, path, answer)


@pytest.mark.parametrize(
    ("method", "path", "body", "least"),
    [
        ("PUT", "/agent/settings", {"enabled": True}, "admin"),
        ("POST", "/agent/canned-responses", {"shortcut": "s", "text": "t"}, "supervisor"),
    ],
)
async def test_permission_matrix_by_role(channel: ChannelServer, method: str, path: str, body: Any, least: str) -> None:
    roles = ["agent", "supervisor", "admin"]
    for role in roles:
        status, answer = await channel.request(method, path, body, agent_token(f"x-{role}", role))
        if roles.index(role) >= roles.index(least):
            assert status in (200, 201), (role, answer)
        else:
            assert (status, answer["error"]) == (403, "forbidden_role"), (role, answer)


def test_office_hours_follow_their_time_zone_and_weekly_spans() -> None:
    hours = OfficeHours.parse(
        {"timezone": "America/New_York", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-28"]}
    )
    # Monday 2026-11-23, 13:59 and 14:00 UTC: 08:59 and 09:00 in New York (UTC-5 in November).
    assert not hours.is_open(datetime(2026, 11, 23, 13, 59, tzinfo=timezone.utc))
    assert hours.is_open(datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc))
    assert hours.is_open(datetime(2026, 11, 23, 21, 59, tzinfo=timezone.utc))
    assert not hours.is_open(datetime(2026, 11, 23, 22, 0, tzinfo=timezone.utc))  # 17:00 there: closed
    # Tuesday 10:00 in New York: no span on Tuesdays.
    assert not hours.is_open(datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc))
    assert not hours.is_open(datetime(2026, 12, 28, 15, 0, tzinfo=timezone.utc))  # a Monday, but a holiday


def test_office_hours_answer_each_minute_as_computed_afresh() -> None:
    """The answer kept for a minute is the same as a new schedule's for every second of it,
    and the next minute is computed again (a schedule may open on it)."""
    schedule = {"timezone": "Asia/Kolkata", "weekly": {"mon": [["09:30", "17:00"]]}, "holidays": []}
    hours = OfficeHours.parse(schedule)
    # Monday 2026-11-23 03:59-04:01 UTC: 09:29-09:31 in Kolkata (UTC+5:30), opening at 09:30.
    start = datetime(2026, 11, 23, 3, 59, 0, tzinfo=timezone.utc)
    answers = []
    for second in range(0, 120, 7):
        moment = start + timedelta(seconds=second)
        answers.append(hours.is_open(moment))
        assert answers[-1] == OfficeHours.parse(schedule).is_open(moment), moment
    assert answers[0] is False and answers[-1] is True
    assert hours == OfficeHours.parse(schedule)  # what it remembers is no part of the schedule

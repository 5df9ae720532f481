"""Turns in Rasa: messages for the bot start in Rasa in arrival order, and a
finished answer goes out before the next message starts (channels/handoff/turns.py).
The last two tests drive the channel over HTTP with a stub bot that holds the event
loop as Rasa does."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import UserMessage

from channels.handoff import rasa_resume
from channels.handoff.turns import RasaTurns, Turn
from tests.channel_server import ChannelServer, StubBot
from tests.redis_server import RedisServer


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_messages_start_in_rasa_in_arrival_order_even_when_a_later_one_is_ready_first() -> None:
    line = RasaTurns()
    started: list[str] = []

    async def message(name: str, round_trip_s: float) -> None:
        async with line.turn() as turn:
            await asyncio.sleep(round_trip_s)  # its Redis step before Rasa
            await turn.start_in_rasa()
            started.append(name)

    await asyncio.gather(message("first", 0.03), message("second", 0.0), message("third", 0.01))
    assert started == ["first", "second", "third"]
    assert (line.waiting, line.finishing) == (0, 0)


async def test_a_message_that_does_not_go_to_rasa_or_fails_before_it_lets_later_ones_through() -> None:
    line = RasaTurns()
    started: list[str] = []

    async def for_a_human() -> None:
        async with line.turn() as turn:
            await asyncio.sleep(0.02)
            turn.not_for_rasa()
            await asyncio.sleep(1)  # what it does for the human does not hold the line

    async def refused() -> None:
        async with line.turn():
            await asyncio.sleep(0.03)
            raise PermissionError("invalid token")

    async def for_the_bot(name: str) -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            started.append(name)

    human = asyncio.create_task(for_a_human())
    failing = asyncio.create_task(refused())
    await asyncio.wait_for(for_the_bot("bot"), timeout=0.5)
    assert started == ["bot"]
    assert isinstance((await asyncio.gather(failing, return_exceptions=True))[0], PermissionError)
    human.cancel()
    await asyncio.gather(human, return_exceptions=True)
    assert (line.waiting, line.finishing) == (0, 0)


async def test_a_cancelled_message_gives_up_its_place() -> None:
    line = RasaTurns()

    async def stuck() -> None:
        async with line.turn():
            await asyncio.sleep(10)

    async def later() -> str:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            return "started"

    first = asyncio.create_task(stuck())
    second = asyncio.create_task(later())
    await settle()
    assert not second.done() and line.waiting == 2
    first.cancel()
    assert await asyncio.wait_for(second, timeout=0.5) == "started"
    assert line.waiting == 0 and not line._waiters


async def test_no_message_starts_in_rasa_while_an_answer_is_finishing() -> None:
    line = RasaTurns()
    events: list[str] = []
    write_done = asyncio.Event()

    async def answered_first() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            turn.rasa_answered()
            events.append("first: writing its replies")
            await write_done.wait()  # its Redis write after Rasa
            events.append("first: answered")

    async def next_one() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            events.append("second: started in Rasa")

    first = asyncio.create_task(answered_first())
    second = asyncio.create_task(next_one())
    await settle()
    assert events == ["first: writing its replies"] and line.finishing == 1
    write_done.set()
    await asyncio.gather(first, second)
    assert events == ["first: writing its replies", "first: answered", "second: started in Rasa"]
    assert (line.waiting, line.finishing) == (0, 0)


async def test_a_message_waiting_inside_rasa_does_not_hold_the_next_one() -> None:
    """As with Rasa's own channels: while a message waits for the action server, the next one runs."""
    line = RasaTurns()
    action_server = asyncio.Event()
    events: list[str] = []

    async def opens_a_session() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            await action_server.wait()
            events.append("session opened")
            turn.rasa_answered()

    async def next_one() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            events.append("next started")
            action_server.set()

    await asyncio.wait_for(asyncio.gather(opens_a_session(), next_one()), timeout=0.5)
    assert events == ["next started", "session opened"]


async def test_a_message_back_from_the_action_server_waits_for_the_answer_finishing_and_the_line() -> None:
    """A session's first message leaves Rasa for the action server; when it comes back
    while another answer waits for its Redis write, that answer goes out first, and the
    message that arrived meanwhile starts before it goes on (as through Rasa's REST
    channel, whose event loop takes it up behind the requests read before)."""
    line = RasaTurns()
    events: list[str] = []
    action_server, write_done = asyncio.Event(), asyncio.Event()

    async def opens_a_session() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            await action_server.wait()
            await line.back_in_rasa()
            events.append("session: back in Rasa")
            turn.rasa_answered()

    async def answered_meanwhile() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            turn.rasa_answered()
            action_server.set()  # the action server's answer arrives during the write below
            await write_done.wait()
            events.append("answer out")

    async def next_in_line() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            events.append("next: started in Rasa")

    tasks = [asyncio.create_task(c) for c in (opens_a_session(), answered_meanwhile(), next_in_line())]
    await settle()
    assert events == [] and line.finishing == 1
    write_done.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=0.5)
    assert events == ["answer out", "next: started in Rasa", "session: back in Rasa"]
    assert (line.waiting, line.finishing) == (0, 0)


async def test_a_message_back_in_rasa_gives_up_its_new_place_when_cancelled() -> None:
    line = RasaTurns()
    started: list[str] = []

    async def in_line_first() -> None:
        async with line.turn() as turn:
            await asyncio.sleep(0.02)  # its Redis step
            await turn.start_in_rasa()
            started.append("first")

    async def later() -> None:
        async with line.turn() as turn:
            await turn.start_in_rasa()
            started.append("later")

    first = asyncio.create_task(in_line_first())
    await asyncio.sleep(0)
    back = asyncio.create_task(line.back_in_rasa())  # behind the first, still on its Redis step
    await settle()
    assert not back.done() and line.waiting == 2
    back.cancel()
    await asyncio.gather(back, return_exceptions=True)
    await asyncio.wait_for(asyncio.gather(first, later()), timeout=0.5)
    assert started == ["first", "later"]
    assert (line.waiting, line.finishing) == (0, 0)


async def test_back_in_rasa_does_not_yield_when_no_answer_is_finishing() -> None:
    line = RasaTurns()
    ran_meanwhile: list[str] = []
    other = asyncio.get_running_loop().call_soon(ran_meanwhile.append, "other")
    await line.back_in_rasa()
    assert ran_meanwhile == []  # nothing else ran: Rasa goes straight on
    other.cancel()


async def test_custom_actions_come_back_to_rasa_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    line = RasaTurns()
    events: list[str] = []

    async def action_server_run(action: RemoteAction, *args: object, **kwargs: object) -> list[object]:
        events.append("action server answered")
        return ["its events"]

    monkeypatch.setattr(rasa_resume, "_rasa_run", action_server_run)  # Rasa's own run: a unit test of the hook
    monkeypatch.setattr(rasa_resume, "_line", line)
    async with line.turn() as finishing:
        await finishing.start_in_rasa()
        finishing.rasa_answered()
        custom = asyncio.create_task(rasa_resume._run_then_wait_for_turn(RemoteAction("action_x", None)))
        await settle()
        assert events == ["action server answered"] and not custom.done()
        events.append("answer out")
    assert await asyncio.wait_for(custom, timeout=0.5) == ["its events"]
    assert events == ["action server answered", "answer out"]


def test_installing_the_hook_wraps_rasas_remote_actions_once() -> None:
    line, other = RasaTurns(), RasaTurns()
    rasa_resume.install(line)
    wrapped = RemoteAction.run
    rasa_resume.install(other)
    assert RemoteAction.run is wrapped is rasa_resume._run_then_wait_for_turn
    assert rasa_resume._line is other


def test_a_turn_counts_its_answer_once() -> None:
    line = RasaTurns()
    turn = Turn(line, 0)
    turn.rasa_answered()
    turn.rasa_answered()
    assert line.finishing == 1


class LoopHoldingBot:
    """What Rasa is given: the stub bot, holding the event loop while it works as Rasa
    does (its stores are synchronous), noting when each message starts."""

    def __init__(self, bot: StubBot, hold_s: float) -> None:
        self.bot = bot
        self.hold_s = hold_s
        self.started: dict[str, float] = {}  # text -> time.time() when it started in Rasa

    async def __call__(self, message: UserMessage) -> None:
        self.started[message.text or ""] = time.time()
        time.sleep(self.hold_s)
        await self.bot(message)


async def test_over_http_an_answer_is_stored_before_the_next_message_starts_in_rasa(redis_server: RedisServer) -> None:
    holders: list[LoopHoldingBot] = []

    def hold(bot: StubBot) -> LoopHoldingBot:
        holders.append(LoopHoldingBot(bot, hold_s=0.1))
        return holders[-1]

    server = ChannelServer(redis_server.url, around_bot=hold)
    await server.start()
    try:
        texts = [f"question {n}" for n in range(4)]
        answers = await asyncio.gather(*(server.say(f"turns-{n}", text) for n, text in enumerate(texts)))
    finally:
        await server.stop()
    assert all(status == 200 for status, _ in answers), answers
    stored_ms = {
        text: int(body["messages"][0]["id"].split("-")[0]) for text, (_, body) in zip(texts, answers, strict=True)
    }
    started = sorted(holders[0].started.items(), key=lambda item: item[1])
    assert len(started) == len(texts)
    for (earlier, _), (_, next_start) in itertools.pairwise(started):
        # Left to the event loop, the earlier reply's write would wait for the next message's 100 ms.
        assert stored_ms[earlier] < next_start * 1000 + 50, (earlier, stored_ms[earlier], next_start)


async def test_over_http_an_earlier_message_starts_in_rasa_first_though_it_has_more_steps(
    redis_server: RedisServer,
) -> None:
    server = ChannelServer(redis_server.url)
    await server.start()
    try:
        line = server.app.ctx.handoff.turns
        # With a message id a first message takes four round trips before Rasa, without one, one.
        earlier = asyncio.create_task(server.say("turns-retried", "first in", message_id="m-1"))
        for _ in range(1000):
            if line.waiting:
                break
            await asyncio.sleep(0.001)
        assert line.waiting == 1
        later = asyncio.create_task(server.say("turns-plain", "second in"))
        results = await asyncio.gather(earlier, later)
    finally:
        await server.stop()
    assert [status for status, _ in results] == [200, 200], results
    assert [m.text for m in server.bot.received] == ["first in", "second in"]

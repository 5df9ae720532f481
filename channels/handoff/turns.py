"""Turns in Rasa: in one server process, customer messages for the bot start in Rasa
in the order they arrived, and an answer Rasa has finished goes out before the next
message starts.

Rasa handles a message without yielding the event loop (its Redis tracker and lock
stores are synchronous), for 15-30 ms here. Rasa's own REST channel hands a message
to Rasa as soon as its request is read and answers as soon as Rasa returns: its
messages are served in arrival order and a finished answer never waits. The handoff
channel makes a Redis round trip before Rasa (the conversation's state) and one after
(the bot's replies into the transcript). Left to the event loop, a later message whose
round trip came back first would start in Rasa ahead of an earlier one, and a finished
answer would wait for a whole Rasa message started during its write. Here a message
starts in Rasa only when every earlier one has started (or gone elsewhere: to a human,
or failed) and no answer is finishing; each waits only for its own Redis replies.

A message that leaves Rasa for a while (a custom action on the action server, as a
session's first message does) comes back the same way (see `rasa_resume.py`): it takes
a place at the end of the line, behind the messages that arrived meanwhile, as Rasa's
REST channel takes it up after the requests its event loop read before the action
server's reply; and only once no answer is finishing. Left to the event loop, it would
come back while an answer waited for its Redis reply, and that answer would wait for
the rest of its handling (~150 ms for 6% of the messages at 70% load here). Sent
ahead of the line instead, it made the messages behind it wait: the p50 latency at 70%
load was ~10% higher in an A/B of the two places (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio


class Turn:
    """One customer message's place in line, held for an `async with` block: its end
    gives the place up, whatever happens (a plain class rather than a generator-based
    context manager: every customer message takes one)."""

    def __init__(self, line: RasaTurns, number: int) -> None:
        self._line = line
        self.number = number
        self.left_line = False  # started in Rasa, or will not go there
        self.finishing = False  # between Rasa's answer and the HTTP answer

    async def start_in_rasa(self) -> None:
        """Waits for this message's turn; Rasa is then the caller's until it yields."""
        await self._line._wait_for(self)
        self._line._leave(self)

    def not_for_rasa(self) -> None:
        """This message will not start in Rasa (e.g. a human has the conversation)."""
        self._line._leave(self)

    def rasa_answered(self) -> None:
        """Rasa has answered: no message starts in Rasa until this answer is out."""
        if not self.finishing:
            self.finishing = True
            self._line._finishing += 1

    async def __aenter__(self) -> Turn:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._line._give_up(self)


class RasaTurns:
    """The per-process line (asyncio only; it holds no conversation state)."""

    def __init__(self) -> None:
        self._issued = 0
        self._head = 0  # the earliest message still to start in Rasa (or to leave)
        self._left: set[int] = set()  # later ones that have left already
        self._finishing = 0
        self._waiters: dict[int, asyncio.Future[None]] = {}

    @property
    def waiting(self) -> int:
        """Messages in line now (taken, not yet started in Rasa nor gone)."""
        return self._issued - self._head - len(self._left)

    @property
    def finishing(self) -> int:
        """Answers between Rasa and their HTTP answer now."""
        return self._finishing

    def turn(self) -> Turn:
        """A message's place in line, taken in arrival order (now, before the caller's
        first await); whatever happens, the `async with` block's end gives it up."""
        turn = Turn(self, self._issued)
        self._issued += 1
        return turn

    def _give_up(self, turn: Turn) -> None:
        self._leave(turn)
        if turn.finishing:
            turn.finishing = False
            self._finishing -= 1
            self._wake_head()

    async def back_in_rasa(self) -> None:
        """For a message already in Rasa that waited for something else: returns when
        its new place, at the end of the line, comes (at once when nothing is ahead
        and no answer is finishing)."""
        async with self.turn() as again:
            await again.start_in_rasa()

    def _may_start(self, turn: Turn) -> bool:
        return turn.number == self._head and self._finishing == 0

    async def _wait_for(self, turn: Turn) -> None:
        while not self._may_start(turn):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters[turn.number] = waiter
            try:
                await waiter
            finally:
                self._waiters.pop(turn.number, None)

    def _leave(self, turn: Turn) -> None:
        if turn.left_line:
            return
        turn.left_line = True
        self._left.add(turn.number)
        while self._head in self._left:
            self._left.remove(self._head)
            self._head += 1
        self._wake_head()

    def _wake_head(self) -> None:
        """Lets the head of the line check again (it runs once the caller yields)."""
        if self._finishing:
            return
        waiter = self._waiters.get(self._head)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

"""Custom actions come back to Rasa in turn (see turns.py).

Rasa awaits the action server in the middle of handling a message (a custom action,
e.g. `action_session_start` on a session's first message); the rest of its handling
then runs without yielding. `install` makes that rest wait, before it starts, for
the answers on their way out of the process and for the messages that arrived
meanwhile: as through Rasa's REST channel, where nothing yields after Rasa and the
event loop takes the action server's reply up behind the requests it read before.
Before Rasa waits, the bot's replies held for the return of the message's lock ticket
are stored (ticket_step.py), so the customer sees them meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.actions.action import RemoteAction

from channels.handoff import ticket_step
from channels.handoff.turns import RasaTurns

RemoteRun = Callable[..., Awaitable[list[Any]]]

_line: RasaTurns | None = None
_rasa_run: RemoteRun | None = None


def install(line: RasaTurns) -> None:
    """Custom actions of this process come back to Rasa in `line`'s turn (idempotent;
    the latest line wins: one per process)."""
    global _line, _rasa_run
    _line = line
    if _rasa_run is None:
        _rasa_run = RemoteAction.run
        RemoteAction.run = _run_then_wait_for_turn  # type: ignore[method-assign]


async def _run_then_wait_for_turn(self: RemoteAction, *args: Any, **kwargs: Any) -> list[Any]:
    assert _rasa_run is not None
    ticket_step.rasa_waits()  # the bot's replies so far go out while the action server works
    events = await _rasa_run(self, *args, **kwargs)
    if _line is not None:
        await _line.back_in_rasa()
    return events

"""Output channels: what Rasa says to a customer, split into what the customer
sees and the handoff's control messages (which the customer never sees)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel

from channels.handoff.store import HandoffStore

CONTROL_KEY = "handoff"


def handoff_control(message: dict[str, Any]) -> dict[str, Any] | None:
    """The handoff request a message carries (the action's json_message), if any."""
    custom = message.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get(CONTROL_KEY), dict):
        return dict(custom[CONTROL_KEY])
    return None


CUSTOMER_FIELDS = ("buttons", "quick_replies", "image", "attachment", "elements", "custom")


def as_transcript_entry(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A Rasa message dict as (text, extra fields) for the transcript: what a
    customer sees, without Rasa's bookkeeping (template, model id, timestamps)."""
    extra = {k: message[k] for k in CUSTOMER_FIELDS if message.get(k) is not None}
    return str(message.get("text") or ""), extra


class HandoffCollector(CollectingOutputChannel):
    """Collects the bot's replies to one customer message. Given `store`, each reply
    the customer sees goes to the transcript as Rasa sends it: Rasa goes on (it
    predicts its next action and saves the tracker) while Redis stores it, so the
    answer does not wait for that round trip after Rasa. With `hold`, the replies wait
    in `held` instead, for Rasa's lock store to store them when it gives the message's
    ticket back (ticket_step.py), or for `store_held`. `stored_ids` awaits them all."""

    def __init__(
        self, store: Callable[[str, dict[str, Any]], Awaitable[list[str]]] | None = None, hold: bool = False
    ) -> None:
        super().__init__()
        self._store = store
        self._hold = hold
        self._storing: list[Awaitable[list[str]] | list[str]] = []  # in the order Rasa sent them
        self.entries: list[tuple[str, dict[str, Any]]] = []  # the visible replies as transcript entries
        self.held: list[tuple[str, dict[str, Any]]] = []  # those not yet on their way to Redis

    @classmethod
    def name(cls) -> str:
        return "handoff"

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        if handoff_control(message) is None:
            entry = as_transcript_entry(message)
            self.entries.append(entry)
            if self._hold:
                self.held.append(entry)
            elif self._store is not None:
                self._storing.append(self._store(*entry))

    def store_held(self) -> None:
        """Sends the held replies to Redis now."""
        held, self.held = self.held, []
        if self._store is not None:
            self._storing += [self._store(*entry) for entry in held]

    def held_stored(self, ids: list[str]) -> None:
        """The held replies were stored (with the ticket's return) under `ids`."""
        self.held = []
        self._storing.append(ids)

    async def stored_ids(self) -> list[str]:
        """The transcript ids of the visible replies, in order (each stored once)."""
        self.store_held()
        storing, self._storing = self._storing, []
        ids: list[str] = []
        failure: Exception | None = None
        for pending in storing:  # one after another: without the pipelined connection, in order
            try:
                ids += pending if isinstance(pending, list) else await pending
            except Exception as error:  # the others are awaited all the same
                failure = failure or error
        if failure is not None:
            raise failure
        return ids

    @property
    def handoff_requests(self) -> list[dict[str, Any]]:
        return [c for c in (handoff_control(m) for m in self.messages) if c is not None]


class TranscriptOutputChannel(OutputChannel):
    """Writes what the bot says into the conversation's transcript, from where the
    customer's poll and WebSocket deliver it. Given another Rasa channel's output
    (e.g. Socket.IO), it also speaks through that one and marks the copy delivered.
    Control messages stay here, in `handoff_requests`."""

    def __init__(
        self, store: HandoffStore, inner: OutputChannel | None = None, delivered_by: str | None = None
    ) -> None:
        self.store = store
        self.inner = inner
        self.delivered_by = delivered_by
        self.handoff_requests: list[dict[str, Any]] = []

    @classmethod
    def name(cls) -> str:
        return "handoff"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        control = handoff_control(message)
        if control is not None:
            self.handoff_requests.append(control)
            return
        text, extra = as_transcript_entry(message)
        if self.delivered_by is not None:
            extra["delivered_by"] = self.delivered_by
        await self.store.add_bot_messages(recipient_id, [(text, extra)])
        if self.inner is not None:
            await self.inner.send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        # As Rasa's dispatcher sends it (`custom`), so a handoff request stays a control message.
        await self.send_response(recipient_id, {"custom": json_message})

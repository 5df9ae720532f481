"""The Rasa side of a handoff: out-of-band tracker writes and actions, each
inside the conversation's lock (Rasa's lock store)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from rasa.core.agent import Agent
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.core.constants import DEFAULT_INTENTS
from rasa.shared.core.events import BotUttered, ConversationPaused, SlotSet, UserUttered

from channels.handoff.errors import Unavailable
from channels.handoff.store import QueuedMessage

INPUT_CHANNEL = "handoff"
HANDOFF_SLOT = "handoff_state"
TRANSCRIPT_ID = "handoff_message_id"  # tracker event metadata: the message's id in the transcript


class ConversationBridge(Protocol):
    """What the handoff needs from the assistant behind it."""

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]: ...

    async def record(self, conversation_id: str, messages: list[QueuedMessage]) -> list[dict[str, Any]]:
        """Appends human-part messages to the tracker; the caller holds the lock."""
        ...

    async def run_action(self, conversation_id: str, action: str, output: OutputChannel) -> None: ...

    async def is_paused(self, conversation_id: str) -> bool: ...

    async def customer_parses(self, conversation_id: str) -> list[tuple[str, dict[str, Any]]]: ...

    async def pause(self, conversation_id: str) -> None: ...

    def intents(self) -> list[str]: ...


class RasaBridge:
    """ConversationBridge over a loaded Rasa `Agent`."""

    def __init__(self, agent: Agent | None) -> None:
        if agent is None or not agent.is_ready() or agent.processor is None:
            raise Unavailable("rasa_unavailable", "The assistant is not ready yet; try again shortly.")
        self.agent = agent
        self.processor = agent.processor

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]:
        return self.agent.lock_store.lock(conversation_id)

    async def record(self, conversation_id: str, messages: list[QueuedMessage]) -> list[dict[str, Any]]:
        """Appends human-part messages (with their tracker metadata) to the tracker in
        one load and one save, without predicting anything (the bot stays silent, even
        for `/restart`); the caller holds the lock. A message the tracker already holds
        (recorded before a crash) is skipped. Returns the NLU reading of each customer
        message ({} for the others)."""
        tracker = await self.processor.fetch_tracker_and_update_session(conversation_id)
        recorded = {
            (event.metadata or {}).get(TRANSCRIPT_ID)
            for event in tracker.events
            if isinstance(event, UserUttered | BotUttered)
        }
        readings: list[dict[str, Any]] = []
        for message, metadata in messages:
            reading: dict[str, Any] = {}
            if message.id in recorded:
                pass
            elif message.author == "customer":
                user_message = UserMessage(
                    message.text,
                    None,
                    conversation_id,
                    input_channel=message.data.get("channel") or INPUT_CHANNEL,
                    message_id=message.data.get("message_id"),
                    metadata={**metadata, TRANSCRIPT_ID: message.id},
                )
                await self.processor._handle_message_with_tracker(user_message, tracker)
                reading = dict(tracker.latest_message.parse_data) if tracker.latest_message else {}
            else:
                agent = {"id": message.data.get("agent"), "name": message.data.get("agent_name")}
                tracker.update(BotUttered(message.text, data={}, metadata={"agent": agent, TRANSCRIPT_ID: message.id}))
            readings.append(reading)
        await self.processor.save_tracker(tracker)
        return readings

    async def run_action(self, conversation_id: str, action: str, output: OutputChannel) -> None:
        """Runs one action on the conversation; the caller holds its lock."""
        await self.agent.execute_action(conversation_id, action, output, None, None)

    async def is_paused(self, conversation_id: str) -> bool:
        tracker = await self.processor.get_tracker(conversation_id)
        return tracker.is_paused()

    async def customer_parses(self, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
        """What the tracker holds of each customer message: (text, Rasa's parse), oldest first."""
        tracker = await self.processor.get_tracker(conversation_id)
        said = (event for event in tracker.events if isinstance(event, UserUttered))
        return [(event.text or "", dict(event.parse_data)) for event in said]

    async def pause(self, conversation_id: str) -> None:
        """Pauses the bot for an agent's takeover; the caller holds the lock."""
        tracker = await self.processor.get_tracker(conversation_id)
        tracker.update(SlotSet(HANDOFF_SLOT, "assigned"))
        tracker.update(ConversationPaused())
        await self.processor.save_tracker(tracker)

    def intents(self) -> list[str]:
        """The domain's intents, for labelling training examples."""
        if self.agent.domain is None:
            return []
        return sorted(set(self.agent.domain.intents) - set(DEFAULT_INTENTS))

"""The Rasa side of a handoff: out-of-band tracker writes and actions, each
inside the conversation's lock (Rasa's lock store)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from rasa.core.agent import Agent
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.shared.core.constants import DEFAULT_INTENTS
from rasa.shared.core.events import BotUttered, ConversationPaused, SlotSet, UserUttered

from channels.handoff.auth import AgentIdentity
from channels.handoff.errors import Unavailable

INPUT_CHANNEL = "handoff"
HANDOFF_SLOT = "handoff_state"


class ConversationBridge(Protocol):
    """What the handoff needs from the assistant behind it."""

    def lock(self, conversation_id: str) -> AbstractAsyncContextManager[Any]: ...

    async def log_customer_message(
        self, conversation_id: str, text: str, message_id: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def log_agent_message(self, conversation_id: str, text: str, agent: AgentIdentity) -> None: ...

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

    async def log_customer_message(
        self, conversation_id: str, text: str, message_id: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """Records a customer message without predicting anything (the bot stays
        silent, even for `/restart`); returns the NLU reading of it."""
        message = UserMessage(
            text, None, conversation_id, input_channel=INPUT_CHANNEL, message_id=message_id, metadata=metadata
        )
        async with self.lock(conversation_id):
            tracker = await self.processor.log_message(message)
        return dict(tracker.latest_message.parse_data) if tracker.latest_message else {}

    async def log_agent_message(self, conversation_id: str, text: str, agent: AgentIdentity) -> None:
        async with self.lock(conversation_id):
            tracker = await self.processor.get_tracker(conversation_id)
            tracker.update(BotUttered(text, data={}, metadata={"agent": agent.to_dict()}))
            await self.processor.save_tracker(tracker)

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

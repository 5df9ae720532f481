"""Human fallback actions: hand over to an agent, and take the customer back.

They hold no Redis connection: the live handoff settings arrive in the metadata
that the handoff channel stamps on each customer message (key `handoff`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ConversationPaused,
    ConversationResumed,
    EventType,
    SessionStarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from channels.handoff.reading import nlu_reading

HANDOFF_SLOT = "handoff_state"
OPEN_HANDOFF_STATES = ("waiting", "assigned")
STAMP_KEY = "handoff"  # the channel's live settings in a message's metadata
SESSION_METADATA_SLOT = "session_started_metadata"  # Rasa's: the metadata of a session's first message


@dataclass(frozen=True)
class HandoffSettings:
    """The live settings the channel stamped on the latest customer message."""

    enabled: bool = True
    in_office_hours: bool = True
    agents_online: int | None = None
    no_agents_policy: str = "wait"
    out_of_hours_policy: str = "bot"

    @classmethod
    def from_tracker(cls, tracker: Tracker) -> HandoffSettings:
        metadata = (tracker.latest_message or {}).get("metadata") or {}
        raw: dict[str, Any] = metadata.get(STAMP_KEY) or {}
        agents = raw.get("agents_online")
        return cls(
            enabled=bool(raw.get("enabled", True)),
            in_office_hours=bool(raw.get("in_office_hours", True)),
            agents_online=int(agents) if agents is not None else None,
            no_agents_policy=str(raw.get("no_agents_policy", "wait")),
            out_of_hours_policy=str(raw.get("out_of_hours_policy", "bot")),
        )


def handoff_reason(tracker: Tracker) -> str:
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    return "request_human" if intent == "request_human" else "nlu_fallback"


class ActionHumanHandoff(Action):
    """Hands the customer to a human: handover message, slot, pause."""

    def name(self) -> str:
        return "action_human_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        settings = HandoffSettings.from_tracker(tracker)
        if not settings.enabled:
            dispatcher.utter_message(response="utter_handoff_disabled")
            return []
        if not settings.in_office_hours:
            dispatcher.utter_message(response="utter_out_of_office_hours")
            if settings.out_of_hours_policy == "bot":
                return []
        elif settings.agents_online == 0 and settings.no_agents_policy == "bot":
            dispatcher.utter_message(response="utter_no_agents_online")
            return []
        else:
            dispatcher.utter_message(response="utter_agent_fallback")
            if settings.agents_online == 0:
                dispatcher.utter_message(response="utter_waiting_no_agents")
        # A control message for the handoff channel, which strips it: it queues the customer.
        request = {
            "state": "waiting",
            "reason": handoff_reason(tracker),
            "reading": nlu_reading(tracker.latest_message),
        }
        dispatcher.utter_message(json_message={"handoff": request})
        return [SlotSet(HANDOFF_SLOT, "waiting"), ConversationPaused()]


class ActionBotAssigned(Action):
    """Gives the conversation back to the bot: message, slot cleared, resume."""

    def name(self) -> str:
        return "action_bot_assigned"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_bot_assigned")
        # Ending on action_listen lets the rules answer the customer's next message.
        return [SlotSet(HANDOFF_SLOT, None), ConversationResumed(), ActionExecuted("action_listen")]


class ActionNoAgentsOnline(Action):
    """Nobody claimed the customer in time: back to the bot, with an apology."""

    def name(self) -> str:
        return "action_no_agents_online"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_no_agents_online")
        return [SlotSet(HANDOFF_SLOT, None), ConversationResumed(), ActionExecuted("action_listen")]


class ActionStillWaiting(Action):
    """Nobody claimed the customer in time, and the policy is to keep waiting."""

    def name(self) -> str:
        return "action_still_waiting"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_still_waiting")
        return []


def carried_over(slots: dict[str, Any]) -> dict[str, Any]:
    """The slots a new session keeps: those set, the session's metadata without the
    live settings (they are on every message; kept in a slot they only made every
    tracker Rasa loads and saves a bit larger)."""
    kept = {name: value for name, value in slots.items() if value is not None}
    metadata = kept.pop(SESSION_METADATA_SLOT, None)
    if isinstance(metadata, dict):
        metadata = {key: value for key, value in metadata.items() if key != STAMP_KEY}
    if metadata:
        kept[SESSION_METADATA_SLOT] = metadata
    return kept


class ActionSessionStart(Action):
    """Starts a new session, carrying the slots over and keeping an open
    handoff paused (Rasa's default session start would un-pause it)."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        events += [SlotSet(name, value) for name, value in carried_over(tracker.current_slot_values()).items()]
        if tracker.get_slot(HANDOFF_SLOT) in OPEN_HANDOFF_STATES:
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events

"""The handoff actions: the events they return and what they send."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, ConversationResumed, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionBotAssigned, ActionHumanHandoff, ActionSessionStart, HandoffSettings
from channels.handoff.service import LiveSettings


def tracker(
    intent: str = "nlu_fallback", handoff: dict[str, Any] | None = None, slots: dict[str, Any] | None = None
) -> Tracker:
    latest = {"text": "asdfgh", "intent": {"name": intent, "confidence": 0.4}, "entities": []}
    if handoff is not None:
        latest["metadata"] = {"handoff": handoff}
    return Tracker("c1", slots or {"handoff_state": None}, latest, [], False, None, {}, "action_listen")


async def run(action: Any, t: Tracker) -> tuple[list[Any], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return events, dispatcher.messages


async def test_handoff_pauses_and_announces_the_queue() -> None:
    events, messages = await run(ActionHumanHandoff(), tracker(handoff={"enabled": True, "agents_online": 2}))
    assert events == [SlotSet("handoff_state", "waiting"), ConversationPaused()]
    assert messages[0]["response"] == "utter_agent_fallback"
    assert messages[1]["custom"] == {
        "handoff": {
            "state": "waiting",
            "reason": "nlu_fallback",
            "reading": {
                "intent": "nlu_fallback",
                "confidence": 0.4,
                "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.4}],
                "entities": [],
            },
        }
    }


async def test_handoff_reason_is_the_request_for_a_human() -> None:
    _, messages = await run(ActionHumanHandoff(), tracker(intent="request_human"))
    assert messages[1]["custom"]["handoff"]["reason"] == "request_human"


async def test_handoff_without_metadata_uses_defaults() -> None:
    events, _ = await run(ActionHumanHandoff(), tracker())
    assert ConversationPaused() in events


async def test_disabled_handoff_answers_like_a_fallback_and_keeps_the_bot() -> None:
    events, messages = await run(ActionHumanHandoff(), tracker(handoff={"enabled": False}))
    assert events == []
    assert [m["response"] for m in messages] == ["utter_handoff_disabled"]


async def test_out_of_office_hours() -> None:
    events, messages = await run(ActionHumanHandoff(), tracker(handoff={"enabled": True, "in_office_hours": False}))
    assert events == []
    assert [m["response"] for m in messages] == ["utter_out_of_office_hours"]


async def test_no_agents_online_with_bot_policy() -> None:
    settings = {"enabled": True, "agents_online": 0, "no_agents_policy": "bot"}
    events, messages = await run(ActionHumanHandoff(), tracker(handoff=settings))
    assert events == []
    assert [m["response"] for m in messages] == ["utter_no_agents_online"]


async def test_no_agents_online_with_wait_policy_still_queues() -> None:
    events, _ = await run(ActionHumanHandoff(), tracker(handoff={"agents_online": 0, "no_agents_policy": "wait"}))
    assert ConversationPaused() in events


async def test_bot_assigned_resumes() -> None:
    events, messages = await run(ActionBotAssigned(), tracker(slots={"handoff_state": "assigned"}))
    assert events == [SlotSet("handoff_state", None), ConversationResumed(), ActionExecuted("action_listen")]
    assert [m["response"] for m in messages] == ["utter_bot_assigned"]


async def test_session_start_keeps_an_open_handoff_paused() -> None:
    events, _ = await run(ActionSessionStart(), tracker(slots={"handoff_state": "assigned"}))
    assert events == [
        SessionStarted(),
        SlotSet("handoff_state", "assigned"),
        ConversationPaused(),
        ActionExecuted("action_listen"),
    ]


@pytest.mark.parametrize(
    ("metadata", "kept"),
    [
        ({"handoff": {"agents_online": 0}}, None),
        ({"handoff": {"agents_online": 0}, "locale": "de"}, {"locale": "de"}),
        ({"locale": "de"}, {"locale": "de"}),
        ("not an object", "not an object"),
    ],
)
async def test_session_start_carries_the_session_s_metadata_without_the_live_settings(metadata: Any, kept: Any) -> None:
    slots = {"handoff_state": None, "session_started_metadata": metadata}
    events, _ = await run(ActionSessionStart(), tracker(slots=slots))
    expected = [] if kept is None else [SlotSet("session_started_metadata", kept)]
    assert events == [SessionStarted(), *expected, ActionExecuted("action_listen")]


async def test_session_start_without_handoff_does_not_pause() -> None:
    events, _ = await run(ActionSessionStart(), tracker())
    assert events == [SessionStarted(), ActionExecuted("action_listen")]


@pytest.mark.parametrize(
    "live",
    [
        LiveSettings(),
        LiveSettings(enabled=True, agents_online=3),
        LiveSettings(enabled=False, in_office_hours=False, agents_online=0),
        LiveSettings(agents_online=0, no_agents_policy="bot", out_of_hours_policy="wait"),
    ],
)
def test_the_actions_read_the_channel_s_short_stamp_as_the_settings_it_was_made_from(live: LiveSettings) -> None:
    stamp = live.to_metadata()
    read = HandoffSettings.from_tracker(tracker(handoff=stamp))
    assert dataclasses.asdict(read) == dataclasses.asdict(live)
    defaults = [name for name, value in dataclasses.asdict(live).items() if value == getattr(LiveSettings, name)]
    assert not set(stamp) & (set(defaults) - {"agents_online"})  # defaults are left out of the stamp

"""Rasa's check of the action server's answers, with its schema checked once: the
same verdicts and messages as `jsonschema.validate`, which Rasa calls."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

from channels.handoff import action_validation

SPEC = RemoteAction.action_response_format_spec()
GOOD: dict[str, Any] = {
    "events": [{"event": "session_started"}, {"event": "slot", "name": "handoff_state", "value": "waiting"}],
    "responses": [{"text": "hello"}],
}
BAD: dict[str, Any] = {"events": [{"event": "slot", "name": 3}], "responses": "not a list"}


@pytest.fixture
def action() -> RemoteAction:
    action_validation.install()
    return RemoteAction("action_session_start", EndpointConfig("http://127.0.0.1:1/webhook"))


def test_a_good_answer_passes_and_the_schema_is_checked_once(
    action: RemoteAction, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = validators.validator_for(SPEC)
    checked: list[object] = []
    original = cls.check_schema

    def counted(_: type, schema: object) -> None:
        checked.append(schema)
        original(schema)

    monkeypatch.setattr(cls, "check_schema", classmethod(counted))
    action_validation.answer_validator.cache_clear()
    assert all(action._validate_action_result(GOOD) for _ in range(3))
    assert checked == [SPEC]


def test_a_bad_answer_is_refused_as_rasa_refuses_it(action: RemoteAction) -> None:
    with pytest.raises(ValidationError) as expected:
        jsonschema.validate(BAD, SPEC)
    with pytest.raises(ValidationError) as refused:
        action._validate_action_result(BAD)
    assert refused.value.message.startswith(expected.value.message + ". Failed to validate Action server response")
    assert list(refused.value.path) == list(expected.value.path)


def test_install_gives_rasa_s_remote_actions_the_check() -> None:
    action_validation.install()
    assert RemoteAction._validate_action_result is action_validation.validate_action_result

"""Rasa's check of the action server's answers, with its schema checked once.

Rasa 3.6 checks every answer of the action server against a JSON schema through
`jsonschema.validate`, which first checks the schema itself against the JSON
Schema meta-schema: for Rasa's schema of events, ~95% of the check and most of a
session's first message (`action_session_start` is a custom action here), the
same work on every call. `install()` gives Rasa's `RemoteAction` a check that
builds its validator once; the answers are checked as before, and a bad one
raises the same `ValidationError` with the same message.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL


@functools.cache
def answer_validator() -> Validator:
    """The validator of Rasa's action server answers; the schema is checked here, once."""
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(_: RemoteAction, result: dict[str, Any]) -> bool:
    """`RemoteAction._validate_action_result` without checking the schema again."""
    error = best_match(answer_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def install() -> None:
    """Makes Rasa's remote actions use the check above (idempotent)."""
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]

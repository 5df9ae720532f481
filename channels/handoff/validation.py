"""Request bodies and ids, checked before anything changes."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from channels.handoff.errors import BadRequest, PayloadTooLarge

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
STREAM_ID_PATTERN = re.compile(r"^\d{1,20}-\d{1,20}$")
INTENT_PATTERN = re.compile(r"^[A-Za-z0-9_/.-]{1,100}$")


def json_object(body: bytes | None, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; 413 when too large, 400 when not an object."""
    raw = body or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge("body_too_large", f"The body is over {max_bytes} bytes.")
    if not raw.strip():
        raise BadRequest("invalid_json", "The body must be a JSON object; it is empty.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as bad:
        raise BadRequest("invalid_json", f"The body is not valid JSON: {bad}.") from bad
    if not isinstance(data, dict):
        raise BadRequest("invalid_body", "The body must be a JSON object.")
    return data


def identifier(value: Any, name: str) -> str:
    """A sender or conversation id: ^[A-Za-z0-9_.:@-]{1,128}$."""
    if not isinstance(value, str):
        raise BadRequest("invalid_field", f"'{name}' must be a string.", field=name)
    if not ID_PATTERN.match(value):
        raise BadRequest("invalid_id", f"'{name}' must match {ID_PATTERN.pattern}.", field=name)
    return value


def required(data: dict[str, Any], name: str) -> Any:
    if name not in data or data[name] is None:
        raise BadRequest("missing_field", f"'{name}' is required.", field=name)
    return data[name]


def text_field(data: dict[str, Any], name: str, max_chars: int) -> str:
    """A required, non-blank string of at most `max_chars` characters (413 over it)."""
    value = required(data, name)
    if not isinstance(value, str):
        raise BadRequest("invalid_field", f"'{name}' must be a string.", field=name)
    if not value.strip():
        raise BadRequest("empty_text", f"'{name}' must not be blank.", field=name)
    if len(value) > max_chars:
        raise PayloadTooLarge("text_too_long", f"'{name}' is over {max_chars} characters.", field=name)
    return value


def optional_identifier(data: dict[str, Any], name: str) -> str | None:
    return None if data.get(name) is None else identifier(data[name], name)


def optional_object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("invalid_field", f"'{name}' must be an object.", field=name)
    return value


def intent_name(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("invalid_field", "'intent' must be a string.", field="intent")
    if not INTENT_PATTERN.match(value):
        raise BadRequest("invalid_intent", f"'intent' must match {INTENT_PATTERN.pattern}.", field="intent")
    return value


def stream_id(value: str | None, name: str = "after") -> str | None:
    """An optional message or event id, as the API hands them out."""
    if value is None or value == "":
        return None
    if not STREAM_ID_PATTERN.match(value) or any(int(part) >= 2**64 for part in value.split("-")):
        raise BadRequest("invalid_id", f"'{name}' must be a message id such as 1700000000000-0.", field=name)
    return value


def path_id(value: str, name: str) -> str:
    """An id from the URL path, percent-decoded (Sanic 21.12 leaves `%3A` as is)."""
    return identifier(unquote(value), name)

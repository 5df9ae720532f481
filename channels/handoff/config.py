"""The channel's configuration, read from credentials.yml and validated."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from channels.handoff.auth import resolve_jwt_secret
from channels.handoff.settings import BOOLEAN_SETTINGS, DeskSettings

RECORDER_ENV = "HANDOFF_RECORDER"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def as_int(value: Any, name: str, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as bad:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from bad
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return number


@dataclass(frozen=True)
class HandoffConfig:
    """Settings of the handoff channel. YAML `${ENV}` values arrive as strings."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    jwt_secret: str = ""
    bot: str = "default"
    max_text_chars: int = 4096
    max_body_bytes: int = 16 * 1024
    feed_maxlen: int = 10_000
    sweep_interval_s: float = 5.0
    customer_requests_per_s: int = 10
    agent_requests_per_s: int = 50
    recorder: bool = True
    desk: DeskSettings = field(default_factory=DeskSettings)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> HandoffConfig:
        values = dict(values or {})
        desk_names = DeskSettings.names() - {"enabled"}
        known = (set(cls.__dataclass_fields__) - {"desk"}) | desk_names | {"handoff_enabled"}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown handoff settings: {sorted(unknown)}")
        defaults = cls()
        desk_values: dict[str, Any] = {"enabled": as_bool(values.get("handoff_enabled", True), "handoff_enabled")}
        for name in desk_names & set(values):
            value = values[name]
            if name in BOOLEAN_SETTINGS:
                value = as_bool(value, name)
            desk_values[name] = int(value) if isinstance(value, str) and value.strip().isdigit() else value
        return cls(
            redis_url=str(values.get("redis_url") or defaults.redis_url),
            redis_cluster=as_bool(values.get("redis_cluster", False), "redis_cluster"),
            jwt_secret=resolve_jwt_secret(str(values.get("jwt_secret") or "")),
            bot=str(values.get("bot") or defaults.bot),
            max_text_chars=as_int(values.get("max_text_chars", defaults.max_text_chars), "max_text_chars"),
            max_body_bytes=as_int(values.get("max_body_bytes", defaults.max_body_bytes), "max_body_bytes"),
            feed_maxlen=as_int(values.get("feed_maxlen", defaults.feed_maxlen), "feed_maxlen", 100),
            sweep_interval_s=float(values.get("sweep_interval_s", defaults.sweep_interval_s)),
            customer_requests_per_s=as_int(
                values.get("customer_requests_per_s", defaults.customer_requests_per_s), "customer_requests_per_s", 0
            ),
            agent_requests_per_s=as_int(
                values.get("agent_requests_per_s", defaults.agent_requests_per_s), "agent_requests_per_s", 0
            ),
            # Per process, so the environment wins: see channels/handoff/recorder.py.
            recorder=as_bool(os.environ.get(RECORDER_ENV) or values.get("recorder", True), RECORDER_ENV),
            desk=DeskSettings().updated(desk_values),
        )

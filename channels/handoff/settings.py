"""Run-time desk settings: stored in Redis (one JSON value per field), defaults
from credentials.yml, validated on every change."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from channels.handoff.errors import BadRequest

POLICIES = ("wait", "bot")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bad(name: str, message: str) -> BadRequest:
    return BadRequest("invalid_setting", f"'{name}': {message}", field=name)


@dataclass(frozen=True)
class OfficeHours:
    """A weekly schedule in a time zone, with holiday dates when it is closed."""

    timezone: str = "UTC"
    weekly: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    holidays: tuple[str, ...] = ()
    # The last minute asked about and its answer: every bot message asks, and the answer
    # can only change on a minute (spans are "HH:MM", zones' offsets whole minutes).
    _last_minute: list[tuple[int, bool]] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def parse(cls, value: Any) -> OfficeHours:
        if not isinstance(value, dict):
            raise _bad("office_hours", "must be an object with timezone, weekly and holidays")
        zone = value.get("timezone", "UTC")
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError) as unknown:
            raise _bad("office_hours", f"unknown time zone {zone!r}") from unknown
        weekly_raw = value.get("weekly", {})
        if not isinstance(weekly_raw, dict) or set(weekly_raw) - set(DAYS):
            raise _bad("office_hours", f"'weekly' maps days ({', '.join(DAYS)}) to [[open, close], ...]")
        weekly: dict[str, list[tuple[str, str]]] = {}
        for day, spans in weekly_raw.items():
            if not isinstance(spans, list):
                raise _bad("office_hours", f"'{day}' must be a list of [open, close] pairs")
            for span in spans:
                valid = isinstance(span, list | tuple) and len(span) == 2
                if not valid or not all(isinstance(t, str) and CLOCK.match(t) for t in span) or span[0] >= span[1]:
                    raise _bad("office_hours", f'\'{day}\' spans are ["HH:MM", "HH:MM"], opening first')
            weekly[day] = [(str(a), str(b)) for a, b in spans]
        holidays = value.get("holidays", [])
        if not isinstance(holidays, list) or not all(isinstance(d, str) and DATE.match(d) for d in holidays):
            raise _bad("office_hours", "'holidays' is a list of YYYY-MM-DD dates")
        return cls(str(zone), weekly, tuple(holidays))

    def is_open(self, moment: datetime) -> bool:
        minute = int(moment.timestamp() // 60)
        last = self._last_minute
        if last and last[0][0] == minute:
            return last[0][1]
        answer = self._open_at(moment)
        last[:] = [(minute, answer)]
        return answer

    def _open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        if local.date().isoformat() in self.holidays:
            return False
        now = local.time()
        spans = self.weekly.get(DAYS[local.weekday()], [])
        return any(time.fromisoformat(start) <= now < time.fromisoformat(end) for start, end in spans)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "weekly": {day: [list(span) for span in spans] for day, spans in self.weekly.items()},
            "holidays": list(self.holidays),
        }


@dataclass(frozen=True)
class DeskSettings:
    """Everything an admin can change while the desk runs."""

    enabled: bool = True
    office_hours: OfficeHours | None = None
    out_of_hours_policy: str = "bot"
    no_agents_policy: str = "wait"
    max_chats_per_agent: int = 0
    claim_timeout_s: int = 0
    claim_timeout_policy: str = "wait"
    offline_grace_s: int = 60
    agent_offline_policy: str = "wait"
    review_training: bool = False
    auto_assign: bool = False

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["office_hours"] = self.office_hours.to_dict() if self.office_hours else None
        return values

    def to_redis(self) -> dict[str, str]:
        return {name: json.dumps(value) for name, value in self.to_dict().items()}

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def updated(self, changes: dict[str, Any]) -> DeskSettings:
        """A copy with `changes` applied; BadRequest for unknown names or bad values."""
        unknown = set(changes) - self.names()
        if unknown:
            raise BadRequest("unknown_setting", f"Unknown settings: {', '.join(sorted(unknown))}.")
        parsed: dict[str, Any] = {}
        for name, value in changes.items():
            parsed[name] = _parse(name, value)
        return replace(self, **parsed)

    @classmethod
    def from_redis(cls, stored: dict[str, str], defaults: DeskSettings) -> DeskSettings:
        """Stored values over the defaults; a corrupt value falls back to its default."""
        settings = defaults
        for name, raw in stored.items():
            if name not in cls.names():
                continue
            try:
                settings = settings.updated({name: json.loads(raw)})
            except (ValueError, BadRequest):
                continue
        return settings


class StoredSettings:
    """The stored settings last parsed, kept for the next read: every bot message reads
    them (with its step) and they seldom change, while parsing and validating all of them
    again cost ~0.1 ms a message once an admin had saved them."""

    def __init__(self) -> None:
        self._last: tuple[frozenset[tuple[Any, Any]], DeskSettings, DeskSettings] | None = None

    def parsed(
        self, pairs: Iterable[tuple[Any, Any]], defaults: DeskSettings, text: Callable[[Any], str]
    ) -> DeskSettings:
        """The settings the stored field/value pairs hold (`text` decodes each), over `defaults`."""
        # A set: Redis gives a hash's fields in no fixed order (a hash with a long value is
        # a hash table, whose order changes as it rehashes).
        fields = frozenset(pairs)
        last = self._last
        if last is not None and last[0] == fields and (last[1] is defaults or last[1] == defaults):
            return last[2]
        settings = DeskSettings.from_redis({text(name): text(value) for name, value in fields}, defaults)
        self._last = (fields, defaults, settings)
        return settings


BOOLEAN_SETTINGS = ("enabled", "review_training", "auto_assign")


def _parse(name: str, value: Any) -> Any:
    if name in BOOLEAN_SETTINGS:
        if not isinstance(value, bool):
            raise _bad(name, "must be true or false")
        return value
    if name == "office_hours":
        return None if value is None else OfficeHours.parse(value)
    if name.endswith("_policy"):
        if value not in POLICIES:
            raise _bad(name, f"must be one of {', '.join(POLICIES)}")
        return value
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _bad(name, "must be a whole number, 0 or more")
    return value

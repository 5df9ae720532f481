"""NLU training examples that agents label: the record and its identity."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

STATUSES = ("pending", "accepted", "rejected")
_SPACES = re.compile(r"\s+")
_EDGE_PUNCTUATION = ".,!?;:'\"()[]{} "


def normalize(text: str) -> str:
    """The form two texts share when they teach the same thing."""
    return _SPACES.sub(" ", text).strip().strip(_EDGE_PUNCTUATION).lower()


def example_id(text: str, intent: str) -> str:
    return hashlib.sha1(f"{intent}\x1f{normalize(text)}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrainingExample:
    """A labelled customer message, with who labelled it, where, and its review."""

    text: str
    intent: str
    agent: str
    conversation_id: str
    added_at: int
    entities: tuple[dict[str, Any], ...] = ()
    status: str = "accepted"
    proposed_intent: bool = False
    contributors: tuple[str, ...] = ()
    reviewed_by: str | None = None
    reviewed_at: int | None = None
    conflict: dict[str, str] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return example_id(self.text, self.intent)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["conversation"] = values.pop("conversation_id")
        values["entities"] = list(self.entities)
        values["contributors"] = list(self.contributors or (self.agent,))
        return {"id": self.id, **values}

    def to_storage(self) -> dict[str, Any]:
        values = self.to_dict()
        values.pop("conflict")
        return values

    @classmethod
    def from_storage(cls, item: dict[str, Any]) -> TrainingExample:
        return cls(
            text=item["text"],
            intent=item["intent"],
            agent=item["agent"],
            conversation_id=item["conversation"],
            added_at=int(item["added_at"]),
            entities=tuple(item.get("entities") or ()),
            status=item.get("status", "accepted"),
            proposed_intent=bool(item.get("proposed_intent", False)),
            contributors=tuple(item.get("contributors") or (item["agent"],)),
            reviewed_by=item.get("reviewed_by"),
            reviewed_at=item.get("reviewed_at"),
        )

    def merged_with(self, other: TrainingExample) -> TrainingExample:
        """The same example labelled again: one record, every contributor."""
        contributors = tuple(dict.fromkeys((*(self.contributors or (self.agent,)), other.agent)))
        return replace(self, contributors=contributors)

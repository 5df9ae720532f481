"""Auto-assignment: which online agent takes the next waiting customer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Candidate:
    """An online agent and how many conversations they hold now."""

    id: str
    name: str
    load: int


def least_loaded(candidates: list[Candidate], max_chats: int) -> Candidate | None:
    """The online agent with the fewest conversations and room for one more
    (`max_chats` 0: no limit); ties go to the agent id that sorts first."""
    free = [c for c in candidates if max_chats <= 0 or c.load < max_chats]
    return min(free, key=lambda c: (c.load, c.id)) if free else None

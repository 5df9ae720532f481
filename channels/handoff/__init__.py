"""Human fallback for Rasa: the handoff input channel and what stands behind it.

`HandoffInput` is imported lazily, so `python -m channels.handoff token` stays quick.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HandoffInput"]


def __getattr__(name: str) -> Any:
    if name == "HandoffInput":
        from channels.handoff.channel import HandoffInput

        return HandoffInput
    raise AttributeError(name)

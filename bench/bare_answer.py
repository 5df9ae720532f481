"""The bare baselines' answer to a claim: claim-sized JSON, made without touching anything."""

from __future__ import annotations

import time
from typing import Any

from sanic.request import Request


def claim_answer(request: Request, conversation_id: str) -> dict[str, Any]:
    """A claim-sized answer, made without touching anything."""
    now = int(time.time() * 1000)
    return {
        "id": conversation_id,
        "state": "assigned",
        "agent": request.headers.get("authorization", "")[-8:],
        "agent_name": "Racer",
        "waiting_since": now,
        "claimed_at": now,
        "reason": "nlu_fallback",
    }

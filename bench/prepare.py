"""Waiting conversations made straight through the store (the Lua scripts the
channel runs), for the runs that need thousands of them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from channels.handoff.store import HandoffStore

TEXT = "I have a problem with my order 4711, can somebody help me?"


async def make_waiting(
    store: HandoffStore,
    ids: Sequence[str],
    concurrency: int = 64,
    with_token: bool = True,
    text: str = TEXT,
) -> None:
    """Each id: a customer message (creates the conversation), then bot -> waiting."""
    queue = list(ids)

    async def worker() -> None:
        while queue:
            conversation_id = queue.pop()
            if with_token:
                await store.authenticate_customer(conversation_id, None, f"token-for-{conversation_id}")
            await store.receive_customer_message(conversation_id, text)
            await store.start_waiting(conversation_id, "nlu_fallback")

    await asyncio.gather(*(worker() for _ in range(concurrency)))

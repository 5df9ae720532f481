"""Human fallback for customers on Rasa's REST channel.

Register `channels.handoff.rest_channel.HandoffRestInput` in credentials.yml instead
of `rest` (the same URL, `/webhooks/rest/webhook`). The handoff works as on the
handoff channel: the handover message, silence from the bot while humans have the
customer, and the bot-assigned message on release. REST answers only the request
that asks, so what agents (and the desk) said meanwhile comes with the answer to
the customer's next message, before the bot's own replies.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, Sanic

from channels.handoff.channel_relay import RELAYED_AUTHORS
from channels.handoff.context import blueprint_with_handoff, runtime_of_app
from channels.handoff.service import OnNewMessage
from channels.handoff.store import HandoffStore, Message


class HandoffRestInput(RestInput):
    """Rasa's REST channel, with the handoff in front of the bot."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        async def hand_over_held(app: Sanic, message: UserMessage) -> None:
            if message.output_channel is None:
                return
            held = HeldMessages(runtime_of_app(app).store, self.name())
            for pending in await held.take(message.sender_id):
                await message.output_channel.send_response(message.sender_id, as_rasa_message(pending))

        return blueprint_with_handoff(super().blueprint, on_new_message, hand_over_held)


def as_rasa_message(message: Message) -> dict[str, Any]:
    """A transcript message as Rasa's output channels send it."""
    extra = {k: v for k, v in message.data.items() if k in ("buttons", "image", "attachment", "custom")}
    return {"text": message.text, **extra}


class HeldMessages:
    """What a pull channel's customer has not been handed yet: messages from agents,
    the desk and the bot (outside a request of theirs) after a per-conversation
    cursor (a Redis hash)."""

    def __init__(self, store: HandoffStore, channel: str) -> None:
        self.store = store
        self.channel = channel
        self.key = store.keys.channel_cursors(channel)

    async def take(self, conversation_id: str) -> list[Message]:
        """The messages held for the customer; the cursor moves past them. The bot's
        replies within a request (marked delivered by this channel) are not held."""
        cursor = await self.store.redis.hget(self.key, conversation_id)
        if cursor is None:  # a new customer (or one from before the handoff): nothing held yet
            await self.store.redis.hset(self.key, conversation_id, await self.store.last_message_id(conversation_id))
            return []
        messages = await self.store.customer_messages(conversation_id, cursor.decode())
        if messages:
            await self.store.redis.hset(self.key, conversation_id, messages[-1].id)
        return [m for m in messages if m.author in RELAYED_AUTHORS and m.data.get("delivered_by") != self.channel]

"""Human fallback for customers on Rasa's `callback` channel.

Register `channels.handoff.callback_channel.HandoffCallbackInput` in credentials.yml
instead of `callback` (the same `url` setting). Its output posts every message to
that URL, so customers get the handoff as on Socket.IO: the handover message,
silence from the bot while humans have them, and what agents, the desk and the bot
(on release) say, posted to the URL as it is written.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa.core.channels.callback import CallbackInput, CallbackOutput
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, Sanic

from channels.handoff.channel_relay import ChannelMembers, relay_feed
from channels.handoff.context import blueprint_with_handoff, runtime_of_app
from channels.handoff.service import OnNewMessage


class HandoffCallbackInput(CallbackInput):
    """Rasa's callback channel, with the handoff in front of the bot."""

    @classmethod
    def name(cls) -> str:
        return "callback"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        async def remember_customer(app: Sanic, message: UserMessage) -> None:
            await ChannelMembers(runtime_of_app(app), self.name()).sadd(message.sender_id)

        bp = blueprint_with_handoff(super().blueprint, on_new_message, remember_customer)

        @bp.listener("after_server_start")
        async def start_relay(app: Sanic, _: Any) -> None:
            async def post(conversation_id: str, payload: dict[str, Any]) -> None:
                # A fresh output each time: Rasa's keeps every message it sent.
                await CallbackOutput(self.callback_endpoint).send_response(conversation_id, payload)

            runtime = runtime_of_app(app)
            relay = relay_feed(runtime, self.name(), post, once=True)
            runtime.periodic.append(asyncio.get_running_loop().create_task(relay))

        return bp

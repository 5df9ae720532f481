"""Customer endpoints: send a message, read the messages sent to you."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json

from channels.handoff.auth import bearer_token, sender_of_customer_token
from channels.handoff.context import ChannelContext
from channels.handoff.errors import Unauthorized
from channels.handoff.http import api, runtime_of
from channels.handoff.store import Quota
from channels.handoff.validation import (
    identifier,
    json_object,
    optional_identifier,
    optional_object,
    required,
    stream_id,
    text_field,
)


def register(bp: Blueprint, context: ChannelContext) -> None:
    config = context.config

    @bp.route("/webhook", methods=["POST"])
    @api
    async def receive(request: Request) -> HTTPResponse:
        data = json_object(request.body, config.max_body_bytes)
        sender = identifier(required(data, "sender"), "sender")
        text = text_field(data, "message", config.max_text_chars)
        message_id = optional_identifier(data, "message_id")
        metadata = optional_object(data, "metadata")
        token = bearer_token(request.headers.get("authorization"))

        quota = Quota(f"customer:{sender}", config.customer_requests_per_s)
        answer = await context.service(request).customer_message(
            sender, text, token, message_id, metadata, context.on_new_message, quota
        )
        return json(answer)

    @bp.route("/customer/messages", methods=["GET"])
    @api
    async def messages(request: Request) -> HTTPResponse:
        sender = await customer_of(request)
        after = stream_id(request.args.get("after"))
        store = runtime_of(request).store
        conversation = await store.require_conversation(sender)
        found = await store.customer_messages(sender, after)
        return json({"sender": sender, "state": conversation.state, "messages": [m.to_dict() for m in found]})

    @bp.route("/customer/cancel", methods=["POST"])
    @api
    async def cancel(request: Request) -> HTTPResponse:
        """The customer stops waiting for an agent and returns to the bot."""
        sender = await customer_of(request)
        conversation = await context.service(request).cancel_waiting(sender)
        return json({"sender": sender, "state": conversation.state})


async def customer_of(request: Request) -> str:
    """The sender whose customer token the request carries (401 otherwise)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("missing_token", "Send the customer token as 'Authorization: Bearer <token>'.")
    sender = sender_of_customer_token(token)
    await runtime_of(request).store.verify_customer(sender, token)
    return sender

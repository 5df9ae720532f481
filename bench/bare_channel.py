"""A bare claim-sized JSON route served inside the Rasa process (bench only).

Beside `bench.bare_sanic` (the same answer from a Sanic process of its own) it splits
what a claim costs over a bare request: what the Rasa process adds to any request
(Rasa's Sanic app and middleware, its heap), and what the channel's work adds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_cors.core import SANIC_CORS_EVALUATED

from bench.bare_answer import claim_answer


class BareInput(InputChannel):
    """`/webhooks/bare/`: answers as `bench.bare_sanic` does, touching nothing."""

    @classmethod
    def name(cls) -> str:
        return "bare"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("bench_bare", __name__)

        @bp.get("/")
        async def health(request: Request) -> HTTPResponse:
            setattr(request.ctx, SANIC_CORS_EVALUATED, "1")  # as the handoff's API marks a request with no Origin
            return json({"status": "ok"})

        @bp.post("/claim/<conversation_id:str>")
        async def claim(request: Request, conversation_id: str) -> HTTPResponse:
            setattr(request.ctx, SANIC_CORS_EVALUATED, "1")
            return json(claim_answer(request, conversation_id))

        return bp

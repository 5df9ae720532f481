"""Human fallback for a customer on Rasa's REST channel, against the real system
(customer on one server, agent on the other): what agents say comes with the
answer to the customer's next message."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from tests.api_client import ApiClient, LiveSocket
from tests.channel_server import agent_token
from tests.stack import Stack, response_text

pytestmark = pytest.mark.e2e


class RestCustomer:
    """A client of `POST /webhooks/rest/webhook`: each answer is what the customer sees."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.url = f"{base}/webhooks/rest/webhook"
        self.sender = f"rest-{uuid.uuid4().hex[:12]}"

    async def say(self, text: str) -> list[str]:
        async with self.http.post(self.url, json={"sender": self.sender, "message": text}) as answer:
            assert answer.status == 200
            replies: list[dict[str, Any]] = await answer.json()
        return [str(reply.get("text")) for reply in replies]


async def test_rest_customer_is_handed_over_hears_the_agent_and_comes_back(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        customer = RestCustomer(http, stack.rasa[0].base)
        agents = ApiClient(stack.rasa[1].handoff, http)
        alice = agent_token("rest-alice")
        console = await LiveSocket.open(f"{stack.rasa[1].ws}/agent/ws", alice)  # Alice is online
        assert await customer.say("hello") == [response_text("utter_greet")]

        assert await customer.say("xkcd qwfp zzvb blorf") == [response_text("utter_agent_fallback")]
        _, waiting = await agents.request("GET", "/agent/conversations?view=waiting", token=alice)
        assert customer.sender in [c["id"] for c in waiting["conversations"]]

        status, _ = await agents.request("POST", f"/agent/conversations/{customer.sender}/claim", token=alice)
        assert status == 200
        path = f"/agent/conversations/{customer.sender}/messages"
        assert (await agents.request("POST", path, {"text": "Hi, a human here."}, alice))[0] == 201

        # The bot stays silent, even for /restart; the agent's words come with the answer.
        assert await customer.say("/restart") == ["Rest-Alice joined the chat.", "Hi, a human here."]
        assert await customer.say("my parcel never came") == []
        assert (await agents.request("POST", path, {"text": "It is on its way."}, alice))[0] == 201
        _, conversation = await agents.request("GET", f"/agent/conversations/{customer.sender}", token=alice)
        customer_texts = [m["text"] for m in conversation["transcript"] if m["from"] == "customer"]
        assert customer_texts[-2:] == ["/restart", "my parcel never came"]

        status, _ = await agents.request("POST", f"/agent/conversations/{customer.sender}/release", token=alice)
        assert status == 200
        heard = await customer.say("hello")
        assert heard[0] == "It is on its way."
        assert response_text("utter_bot_assigned") in heard[1:-1]
        assert heard[-1] == response_text("utter_greet")  # the bot answers again, after what was held
        assert await customer.say("hello") == [response_text("utter_greet")]  # nothing twice
        await console.close()

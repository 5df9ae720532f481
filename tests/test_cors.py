"""Rasa's CORS middleware behind the handoff's mark (channels/handoff/cors.py): a
browser's request gets its headers, a request no browser sent skips the middleware."""

from __future__ import annotations

from typing import Any

import aiohttp
from rasa.server import configure_cors

from channels.handoff.cors import CorsUnlessEvaluated
from tests.channel_server import ChannelServer, agent_token
from tests.redis_server import RedisServer
from tests.stack import SHOP_ORIGIN

ALICE = agent_token("alice")


async def test_only_requests_with_an_origin_reach_sanic_cors(redis_server: RedisServer) -> None:
    server = ChannelServer(redis_server.url)
    configure_cors(server.app, SHOP_ORIGIN)  # as `rasa run --cors` does
    await server.start()
    try:
        wrapped = [m for m in server.app.response_middleware if isinstance(m, CorsUnlessEvaluated)]
        assert len(wrapped) == 1
        cors = wrapped[0].middleware
        calls: list[str] = []

        def counted(request: Any, response: Any) -> Any:
            calls.append(request.path)
            return cors(request, response)

        wrapped[0].middleware = counted
        headers = {"Authorization": f"Bearer {ALICE}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.base}/agent/me", headers=headers) as plain:
                assert plain.status == 200
                assert "Access-Control-Allow-Origin" not in plain.headers
            assert calls == []
            async with http.get(f"{server.base}/agent/me", headers={**headers, "Origin": SHOP_ORIGIN}) as browser:
                assert browser.status == 200
                assert browser.headers.get("Access-Control-Allow-Origin") == SHOP_ORIGIN
            assert calls == ["/webhooks/handoff/agent/me"]
    finally:
        await server.stop()

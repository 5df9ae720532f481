"""The baseline for claims: a bare Sanic JSON endpoint (same Sanic, one worker,
uvloop), answering a claim-sized JSON without touching anything."""

from __future__ import annotations

import sys
import time

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

app = Sanic("bench_bare")


@app.get("/")
async def health(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@app.post("/claim/<conversation_id:str>")
async def claim(request: Request, conversation_id: str) -> HTTPResponse:
    now = int(time.time() * 1000)
    return json(
        {
            "id": conversation_id,
            "state": "assigned",
            "agent": request.headers.get("authorization", "")[-8:],
            "agent_name": "Racer",
            "waiting_since": now,
            "claimed_at": now,
            "reason": "nlu_fallback",
        }
    )


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False, workers=1, motd=False)

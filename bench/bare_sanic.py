"""The baseline for claims: a bare Sanic JSON endpoint (same Sanic, one worker,
uvloop), answering a claim-sized JSON without touching anything."""

from __future__ import annotations

import sys

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from bench.bare_answer import claim_answer

app = Sanic("bench_bare")


@app.get("/")
async def health(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@app.post("/claim/<conversation_id:str>")
async def claim(request: Request, conversation_id: str) -> HTTPResponse:
    return json(claim_answer(request, conversation_id))


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False, workers=1, motd=False)

"""Nobody let in: the authorization matrix, exhaustively.

Every agent HTTP route the channel registers (read from the app's router, so a new
route fails here until it is classified) is tried with every kind of bad
credential (401), by every role on a conversation another agent has (403 where the
route acts on it), and, where a role is required, by every lower role (403
`forbidden_role`); a refused request changes nothing. Customer tokens open only
their own conversation. Tokens never travel in URLs (the console and the chat
page never put one there; the server reads none from there) and never reach the
logs; tokens are compared in constant time."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed
from websockets.legacy.client import connect

from channels.handoff import auth, sockets, store
from channels.handoff.auth import ROLES, mint_agent_token
from channels.handoff.routes_static import STATIC_ROOT
from tests.channel_server import SECRET, ChannelServer, agent_token
from tests.reliability_figures import record_figures
from tests.settle import settled

PREFIX = "/webhooks/handoff"
OWNER = agent_token("owner")
ADMIN = agent_token("root", "admin")
Route = tuple[str, str]  # (method, path template), e.g. ("POST", "/agent/conversations/{conversation_id}/claim")
Expectation = Callable[[str], tuple[int, str | None]]  # role -> (status, error code)

# -- the classification of every agent route ---------------------------------------------


def read(role: str) -> tuple[int, str | None]:
    return 200, None


def assigned_agent_only(role: str) -> tuple[int, str | None]:
    return 403, "not_your_conversation"


def assigned_agent_or_supervisor(success: int) -> Expectation:
    def expected(role: str) -> tuple[int, str | None]:
        if ROLES.index(role) >= ROLES.index("supervisor"):
            return success, None
        return 403, "not_your_conversation"

    return expected


def refused(status: int, code: str) -> Expectation:
    return lambda role: (status, code)


# Routes that act on one conversation: what each role gets on a conversation assigned
# to another agent (docs/api.md, "Roles and permissions"), and the body it sends.
CONVERSATION_ROUTES: dict[Route, tuple[Any, Expectation]] = {
    ("GET", "/agent/conversations/{conversation_id}"): (None, read),
    ("GET", "/agent/conversations/{conversation_id}/notes"): (None, read),
    ("GET", "/agent/conversations/{conversation_id}/customer"): (None, read),
    ("POST", "/agent/conversations/{conversation_id}/claim"): (None, refused(409, "already_assigned")),
    ("POST", "/agent/conversations/{conversation_id}/takeover"): (None, refused(409, "not_with_bot")),
    ("POST", "/agent/conversations/{conversation_id}/messages"): ({"text": "let me in"}, assigned_agent_only),
    ("POST", "/agent/conversations/{conversation_id}/release"): (None, assigned_agent_or_supervisor(200)),
    ("POST", "/agent/conversations/{conversation_id}/transfer"): ({}, assigned_agent_or_supervisor(200)),
    ("POST", "/agent/conversations/{conversation_id}/notes"): ({"text": "a note"}, assigned_agent_or_supervisor(201)),
    ("PUT", "/agent/conversations/{conversation_id}/customer"): ({"name": "X"}, assigned_agent_or_supervisor(200)),
    ("PATCH", "/agent/conversations/{conversation_id}/customer"): ({"name": "Y"}, assigned_agent_or_supervisor(200)),
    # Labelling a customer's words is open to every agent, whoever has the conversation.
    ("POST", "/agent/conversations/{conversation_id}/training-examples"): (
        {"text": "where is my parcel", "intent": "order_status"},
        lambda role: (201, None),
    ),
}

# Routes that need a role: the least one, and a body that succeeds for it.
ROLE_GATED: dict[Route, tuple[str, Any]] = {
    ("PUT", "/agent/settings"): ("admin", {"max_chats_per_agent": 3}),
    ("PATCH", "/agent/settings"): ("admin", {"review_training": False}),
    ("POST", "/agent/canned-responses"): ("supervisor", {"shortcut": "hi", "text": "Hi {customer_name}!"}),
    ("PUT", "/agent/canned-responses/{response_id}"): ("supervisor", {"shortcut": "hi", "text": "Hello!"}),
    ("DELETE", "/agent/canned-responses/{response_id}"): ("supervisor", None),
    ("PATCH", "/agent/training-examples/{example_id}"): ("trainer", {"status": "accepted"}),
}

# Routes open to every role (reads, and the caller's own status).
OPEN_ROUTES: dict[Route, Any] = {
    ("GET", "/agent/me"): None,
    ("GET", "/agent/agents"): None,
    ("GET", "/agent/intents"): None,
    ("GET", "/agent/stats"): None,
    ("GET", "/agent/settings"): None,
    ("GET", "/agent/conversations"): None,
    ("GET", "/agent/canned-responses"): None,
    ("GET", "/agent/training-examples"): None,
    ("PUT", "/agent/status"): {"status": "online"},
}


def agent_routes(channel: ChannelServer) -> set[Route]:
    """Every agent HTTP route of the running app: (method, template), WebSockets left out."""
    found: set[Route] = set()
    for route in channel.app.router.routes:
        if getattr(route.ctx, "websocket", False):
            continue
        path = "/" + str(route.path).lstrip("/")
        assert path.startswith(PREFIX), path
        template = re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", path[len(PREFIX) :])
        if template.startswith("/agent/"):
            found |= {(method, template) for method in route.methods if method not in ("HEAD", "OPTIONS")}
    return found


def body_of(route: Route) -> Any:
    if route in CONVERSATION_ROUTES:
        return CONVERSATION_ROUTES[route][0]
    if route in ROLE_GATED:
        return ROLE_GATED[route][1]
    return OPEN_ROUTES[route]


def concrete(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)


def test_every_agent_route_is_classified(channel: ChannelServer) -> None:
    routes = agent_routes(channel)
    assert len(routes) >= 25, routes
    classes = [set(CONVERSATION_ROUTES), set(ROLE_GATED), set(OPEN_ROUTES)]
    assert not (classes[0] & classes[1] or classes[0] & classes[2] or classes[1] & classes[2])
    classified = set().union(*classes)
    assert routes - classified == set(), "classify the new routes in tests/test_authz.py"
    assert classified - routes == set(), "these routes are gone: drop them from tests/test_authz.py"
    conversation_routes = {r for r in routes if "{conversation_id}" in r[1]}
    assert conversation_routes == set(CONVERSATION_ROUTES)


# -- 401: every agent route, every bad credential --------------------------------------------


def signed(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def valid_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "mallory", "name": "Mallory", "role": "admin", "iat": now, "exp": now + 3600}
    return {k: v for k, v in {**claims, **changes}.items() if v is not None}


def tampered() -> str:
    """An agent token whose payload was edited to admin after signing."""
    header, _, signature = mint_agent_token(SECRET, "mallory", role="agent").split(".")
    payload = base64.urlsafe_b64encode(json.dumps(valid_claims()).encode()).decode().rstrip("=")
    return f"{header}.{payload}.{signature}"


def unsigned() -> str:
    """alg "none": no signature at all."""
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps(valid_claims()).encode()).decode().rstrip("=")
    return f"{header}.{payload}."


BAD_CREDENTIALS: dict[str, tuple[str | None, str]] = {
    # name: (Authorization header, the error code of the 401)
    "no token": (None, "missing_token"),
    "empty header": ("", "missing_token"),
    "bearer without token": ("Bearer", "invalid_authorization"),
    "basic scheme": ("Basic b3duZXI6c2VjcmV0", "invalid_authorization"),
    "token without scheme": (OWNER, "invalid_authorization"),
    "malformed token": ("Bearer not-a-jwt", "invalid_token"),
    "truncated token": (f"Bearer {OWNER[:-5]}", "invalid_token"),
    "expired": (f"Bearer {mint_agent_token(SECRET, 'mallory', role='admin', ttl_s=-60)}", "token_expired"),
    "bad signature": (f"Bearer {mint_agent_token('another-secret-0123456789abcdef0123', 'mallory')}", "invalid_token"),
    "payload edited after signing": (f"Bearer {tampered()}", "invalid_token"),
    "alg none": (f"Bearer {unsigned()}", "invalid_token"),
    "HS512 with the secret": (f"Bearer {signed(valid_claims(), algorithm='HS512')}", "invalid_token"),
    "unknown role": (f"Bearer {signed(valid_claims(role='root'))}", "invalid_token"),
    "no subject": (f"Bearer {signed(valid_claims(sub=None))}", "invalid_token"),
    "no expiry": (f"Bearer {signed(valid_claims(exp=None))}", "invalid_token"),
    "a customer token": ("Bearer YzE.c2VjcmV0LWN1c3RvbWVyLXRva2Vu", "invalid_token"),
}


async def call(
    channel: ChannelServer, method: str, path: str, body: Any = None, authorization: str | None = None
) -> tuple[int, Any]:
    assert channel.http is not None
    headers = {"Authorization": authorization} if authorization is not None else {}
    data = json.dumps(body).encode() if body is not None else None
    async with channel.http.request(method, channel.base + path, data=data, headers=headers) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def snapshot(redis: Redis) -> dict[str, Any]:
    """Every key and its value: a refused request must leave all of it as it was (but
    the rate limit's counters: an authenticated request counts, allowed or not), once
    the analytics counted what came before."""
    await settled(redis)
    found: dict[str, Any] = {}
    async for key in redis.scan_iter(count=1000):
        if b"}:rate:" in key:
            continue
        kind = (await redis.type(key)).decode()
        if kind == "string":
            value: Any = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = kind
        found[key.decode()] = value
    return found


async def resources(channel: ChannelServer) -> dict[str, str]:
    """A conversation assigned to `owner`, a canned response and a training example:
    the ids every route's path names, so that a missing check would answer 2xx."""
    await channel.hand_over("c1")
    assert (await channel.request("POST", "/agent/conversations/c1/claim", token=OWNER))[0] == 200
    status, canned = await channel.request("POST", "/agent/canned-responses", {"shortcut": "s", "text": "t"}, ADMIN)
    assert status == 201, canned
    status, example = await channel.request(
        "POST", "/agent/conversations/c1/training-examples", {"text": "my parcel", "intent": "order_status"}, ADMIN
    )
    assert status == 201, example
    return {
        "conversation_id": "c1",
        "response_id": canned["canned_response"]["id"],
        "example_id": example["example"]["id"],
    }


async def test_every_agent_route_refuses_every_bad_credential(channel: ChannelServer, redis_client: Redis) -> None:
    ids = await resources(channel)
    before = await snapshot(redis_client)
    tried = 0
    for method, template in sorted(agent_routes(channel)):
        path = concrete(template, ids)
        for name, (authorization, code) in BAD_CREDENTIALS.items():
            status, answer = await call(channel, method, path, body_of((method, template)), authorization)
            assert (status, answer.get("error") if isinstance(answer, dict) else answer) == (401, code), (
                method,
                path,
                name,
            )
            assert set(answer) == {"error", "message"}, answer
            tried += 1
    assert tried == len(agent_routes(channel)) * len(BAD_CREDENTIALS)
    record_figures(
        "authz",
        {
            "routes": len(agent_routes(channel)),
            "bad_credentials": len(BAD_CREDENTIALS),
            "refusals": tried,
            "role_gated": len(ROLE_GATED),
        },
    )
    assert await snapshot(redis_client) == before, "a refused request changed something"


BAD_TOKENS = {
    name: authorization.split(" ", 1)[1]
    for name, (authorization, _) in BAD_CREDENTIALS.items()
    if authorization and authorization.startswith("Bearer ")
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
async def test_the_agent_socket_refuses_every_bad_token(channel: ChannelServer, name: str) -> None:
    token = BAD_TOKENS[name]
    async with connect(f"{channel.ws_base}/agent/ws") as socket:
        await socket.send(json.dumps({"type": "auth", "token": token, "after": None}))
        frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 5)
    assert frame["type"] == "error" and frame["error"] in ("invalid_token", "token_expired")
    assert socket.close_code == sockets.CLOSE_POLICY


# -- 403: another agent's conversation, and roles too low ---------------------------------------


@pytest.mark.parametrize("route", sorted(CONVERSATION_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_acting_on_another_agents_conversation(channel: ChannelServer, route: Route) -> None:
    method, template = route
    body, expected = CONVERSATION_ROUTES[route]
    for role in ROLES:
        conversation = f"taken-by-owner-{role}"
        await channel.hand_over(conversation)
        assert (await channel.request("POST", f"/agent/conversations/{conversation}/claim", token=OWNER))[0] == 200
        _, before = await channel.request("GET", f"/agent/conversations/{conversation}", token=OWNER)
        token = agent_token(f"intruder-{role}", role)
        sent = {**body, "text": f"{body['text']} ({role})"} if isinstance(body, dict) and "text" in body else body
        status, answer = await channel.request(
            method, concrete(template, {"conversation_id": conversation}), sent, token
        )
        want_status, want_code = expected(role)
        assert status == want_status, (role, route, answer)
        if want_code is not None:
            assert answer["error"] == want_code, (role, route, answer)
            if want_code == "not_your_conversation":
                assert answer["agent"] == "owner"
            _, after = await channel.request("GET", f"/agent/conversations/{conversation}", token=OWNER)
            assert after == before, f"a refused {method} {template} changed the conversation"
            _, notes = await channel.request("GET", f"/agent/conversations/{conversation}/notes", token=OWNER)
            _, details = await channel.request("GET", f"/agent/conversations/{conversation}/customer", token=OWNER)
            assert notes["notes"] == [] and details["customer"] == {}


@pytest.mark.parametrize("route", sorted(ROLE_GATED), ids=lambda r: f"{r[0]} {r[1]}")
async def test_role_gated_routes_refuse_lower_roles(channel: ChannelServer, redis_client: Redis, route: Route) -> None:
    method, template = route
    least, body = ROLE_GATED[route]
    ids = await resources(channel)
    for role in ROLES:
        if template.endswith("{response_id}"):  # a fresh canned response each time (DELETE removes it)
            _, made = await channel.request("POST", "/agent/canned-responses", {"shortcut": role, "text": "t"}, ADMIN)
            ids["response_id"] = made["canned_response"]["id"]
        before = await snapshot(redis_client)
        status, answer = await channel.request(method, concrete(template, ids), body, agent_token(f"x-{role}", role))
        if ROLES.index(role) < ROLES.index(least):
            assert (status, answer["error"]) == (403, "forbidden_role"), (role, route, answer)
            after = await snapshot(redis_client)
            changed = {k for k in set(after) | set(before) if after.get(k) != before.get(k)}
            assert not changed, f"a refused {method} {template} changed {changed}"
        else:
            assert status in (200, 201), (role, route, answer)


@pytest.mark.parametrize("route", sorted(OPEN_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_open_routes_serve_every_role(channel: ChannelServer, route: Route) -> None:
    method, template = route
    for role in ROLES:
        status, answer = await channel.request(method, template, OPEN_ROUTES[route], agent_token(f"x-{role}", role))
        assert status == 200, (role, route, answer)


# -- customers: their own conversation only -----------------------------------------------------


def forged(sender: str, token: str) -> str:
    """Another sender's token with this sender's name in front."""
    name = base64.urlsafe_b64encode(sender.encode()).decode().rstrip("=")
    return f"{name}.{token.partition('.')[2]}"


async def test_a_customer_token_opens_only_its_own_conversation(channel: ChannelServer) -> None:
    first = await channel.hand_over("c1")
    second = await channel.hand_over("c2")
    status, own = await channel.request("GET", "/customer/messages", token=second)
    assert (status, own["sender"]) == (200, "c2")
    # c2's genuine token does not speak for c1.
    status, answer = await channel.say("c1", "let me in", second)
    assert (status, answer["error"]) == (401, "invalid_token")
    # The token names its sender: anything but c1's own token, under c1's name, is refused.
    altered = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    c1 = base64.urlsafe_b64encode(b"c1").decode().rstrip("=")
    for what, token in {
        "c2's secret under c1's name": forged("c1", second),
        "c1's token, altered": altered,
        "c1's name without a secret": c1,
        "c1's name with an empty secret": f"{c1}.",
        "an agent token": agent_token("alice", "admin"),
    }.items():
        status, answer = await channel.request("GET", "/customer/messages", token=token)
        assert (status, answer["error"]) == (401, "invalid_token"), what
        status, answer = await channel.request("POST", "/customer/cancel", token=token)
        assert (status, answer["error"]) == (401, "invalid_token"), what
        status, answer = await channel.say("c1", "let me in", token)
        assert (status, answer["error"]) == (401, "invalid_token"), what
        async with connect(f"{channel.ws_base}/customer/ws") as socket:
            await socket.send(json.dumps({"type": "auth", "token": token, "after": None}))
            frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 5)
        assert (frame["type"], frame["error"], socket.close_code) == ("error", "invalid_token", 4401), what
    _, conversation = await channel.request("GET", "/agent/conversations/c1", token=OWNER)
    assert conversation["state"] == "waiting", "a refused cancel let c1 go"
    assert "let me in" not in [m["text"] for m in conversation["transcript"]]
    status, mine = await channel.request("GET", "/customer/messages", token=first)
    assert (status, mine["sender"]) == (200, "c1")


# -- tokens never in URLs ------------------------------------------------------------------------


def static_scripts() -> Iterator[Path]:
    yield from sorted(p for p in STATIC_ROOT.rglob("*") if p.suffix in (".js", ".html"))


def call_arguments(source: str, opener: str) -> Iterator[str]:
    """The text between the parentheses of every `opener(` call."""
    for match in re.finditer(re.escape(opener) + r"\s*\(", source):
        depth, start = 1, match.end()
        for end in range(start, len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                yield source[start:end]
                break


def test_the_console_and_the_chat_never_put_a_token_in_a_url() -> None:
    scripts = list(static_scripts())
    assert {p.name for p in scripts} >= {"api.js", "console.js", "chat.js"}
    for path in scripts:
        source = path.read_text()
        where = path.relative_to(STATIC_ROOT)
        # No query parameter named like a token, however the URL is put together.
        assert not re.search(r"[?&][\w-]*(token|auth|jwt|bearer)[\w-]*=", source, re.I), where
        assert not re.search(r"(searchParams|URLSearchParams)[^;\n]*(token|auth)", source, re.I), where
        # Nothing that makes a URL or navigates is given a token.
        for opener in ("fetch", "new URL", "new WebSocket", "new EventSource", "open", "assign", "replace", "pushState",
                       "replaceState", "sendBeacon"):  # fmt: skip
            for argument in call_arguments(source, opener):
                url_part = argument.split("{", 1)[0] if opener == "fetch" else argument  # fetch(url, {headers})
                assert not re.search(r"token|bearer|jwt", url_part, re.I), (where, opener, argument)
        assert not re.search(r"(href|src|location|hash|search)\s*[+]?=[^;\n]*token", source, re.I), where
        # A token is interpolated only into an Authorization header.
        for line in source.splitlines():
            if re.search(r"\$\{[^}]*token[^}]*\}", line, re.I):
                assert "Bearer" in line, (where, line)


async def test_the_server_reads_no_token_from_a_url(channel: ChannelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    customer = await channel.hand_over("c1")
    for query in ("token", "access_token", "authorization", "jwt"):
        status, answer = await channel.request("GET", f"/agent/me?{query}={OWNER}")
        assert (status, answer["error"]) == (401, "missing_token"), query
        status, answer = await channel.request("GET", f"/customer/messages?{query}={customer}")
        assert (status, answer["error"]) == (401, "missing_token"), query
    monkeypatch.setattr(sockets, "AUTH_TIMEOUT_S", 0.3)
    for path, token in (("/agent/ws", OWNER), ("/customer/ws", customer)):
        async with connect(f"{channel.ws_base}{path}?token={token}") as socket:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert (frame["error"], socket.close_code) == ("auth_timeout", 4401), path


# -- tokens never in logs -----------------------------------------------------------------------


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG, its records captured, whether it propagates or not."""
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if not name.startswith("asyncio")
    ]
    saved = [(lg, lg.level, lg.disabled, lg.propagate) for lg in loggers]
    caplog.handler.setLevel(logging.DEBUG)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        if not lg.propagate:
            lg.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for lg, level, disabled, propagate in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            if not propagate:
                lg.removeHandler(caplog.handler)


def secret_parts(token: str) -> list[str]:
    """What must not be logged of a token, even in part: every 16 characters in a row
    of its secret (a JWT's signature, a customer token's part after its sender)."""
    secret = token.rsplit(".", 1)[-1]
    return [secret[i : i + 16] for i in range(max(len(secret) - 15, 0))]


async def test_no_token_reaches_the_logs(
    channel: ChannelServer, redis_client: Redis, every_log: pytest.LogCaptureFixture
) -> None:
    alice = agent_token("alice")
    _, first = await channel.say("c1", "hello")
    customer = first["customer_token"]
    await channel.say("c1", "gibberish", customer)
    await channel.request("POST", "/agent/conversations/c1/claim", token=alice)
    await channel.request("POST", "/agent/conversations/c1/messages", {"text": "hi"}, alice)
    await channel.request("GET", "/customer/messages", token=customer)
    for authorization, _ in BAD_CREDENTIALS.values():
        await call(channel, "GET", "/agent/me", None, authorization)
        await call(channel, "GET", "/customer/messages", None, authorization)
    await channel.say("c1", "wrong token", forged("c1", alice))
    for path, token in (("/agent/ws", alice), ("/customer/ws", customer), ("/agent/ws", customer)):
        async with connect(f"{channel.ws_base}{path}") as socket:
            await socket.send(json.dumps({"type": "auth", "token": token, "after": None}))
            ready = json.loads(await asyncio.wait_for(socket.recv(), 5))
            if ready["type"] == "ready":
                await socket.send(json.dumps({"type": "ping"}))
                await asyncio.wait_for(socket.recv(), 5)
    # Failures log too: the bot raising, and Redis refusing.
    channel.bot.failure = RuntimeError("the bot fell over")
    _, second = await channel.say("c2", "hello")
    channel.bot.failure = None
    await redis_client.config_set("maxmemory", "1")
    await redis_client.config_set("maxmemory-policy", "noeviction")
    try:
        await channel.say("c1", "while Redis refuses writes", customer)
        await channel.request("POST", "/agent/conversations/c1/messages", {"text": "hi"}, alice)
    finally:
        await redis_client.config_set("maxmemory", "0")
    # The test's own WebSocket client logs what it sends: not the server's logging.
    records = [r for r in every_log.records if not r.name.startswith("websockets.client")]
    names = {r.name for r in records}
    assert "channels.handoff.http" in names and "sanic.error" in names, names
    assert any(r.getMessage().startswith("< ") for r in records), "the WebSocket layer's frames were not logged"
    tokens = [alice, customer, OWNER, *BAD_TOKENS.values()]
    if isinstance(second, dict) and second.get("customer_token"):
        tokens.append(second["customer_token"])
    secrets = {part for token in tokens for part in secret_parts(token)}
    for record in records:
        text = record.getMessage() + (every_log.handler.format(record) if record.exc_info else "")
        leaked = [part for part in secrets if part in text]
        assert not leaked, f"{record.name} logged (part of) a token: {text[:300]}"


# -- constant-time comparisons ------------------------------------------------------------------


def test_tokens_are_compared_in_constant_time() -> None:
    check = inspect.getsource(store.HandoffStore._check_customer_token)
    assert "hmac.compare_digest(" in check and "==" not in check
    # Customer tokens are kept hashed; the hashes are compared with compare_digest everywhere.
    source = inspect.getsource(store)
    assert not re.search(r"hash_token\([^)]*\)\s*[!=]=|[!=]=\s*hash_token\(", source)
    # Agent tokens: PyJWT checks HS256 signatures with hmac.compare_digest, and only HS256 is accepted.
    assert "hmac.compare_digest(" in inspect.getsource(jwt.algorithms.HMACAlgorithm.verify)
    assert 'algorithms=["HS256"]' in inspect.getsource(auth._verified)
    # Verified tokens are remembered under their SHA-256 digest, never looked up by the token's own text first.
    assert "hashlib.sha256(token.encode()).digest()" in inspect.getsource(auth.verify_agent_token)


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = mint_agent_token(SECRET, "short-lived", ttl_s=60)
    assert auth.verify_agent_token(SECRET, token).id == "short-lived"
    assert auth.verify_agent_token(SECRET, token).id == "short-lived"  # from the cache
    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(auth.Unauthorized) as refused:
        auth.verify_agent_token(SECRET, token)
    assert refused.value.code == "token_expired"
    with pytest.raises(auth.Unauthorized) as forged:
        auth.verify_agent_token("another secret", token)  # the cache is per secret
    assert forged.value.code == "invalid_token"

"""docs/openapi.yaml and docs/api.md kept honest: the spec describes exactly the
channel's routes, and every answer of a realistic run over real HTTP (and every
WebSocket frame) matches the schema the spec gives for that operation and status.

When this fails after a change of the API, update docs/openapi.yaml and docs/api.md."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from jsonschema import Draft4Validator, RefResolver
from sanic import Sanic

from channels.handoff.channel import HandoffInput
from channels.handoff.config import HandoffConfig
from channels.handoff.routes_static import APPS
from tests.api_client import Frame, LiveSocket
from tests.channel_server import SECRET, ChannelServer, agent_token

ROOT = Path(__file__).resolve().parent.parent
SPEC_FILE = ROOT / "docs" / "openapi.yaml"
API_DOC = ROOT / "docs" / "api.md"
CODE = ROOT / "channels" / "handoff"
PREFIX = "/webhooks/handoff"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
STATIC_ROUTES = {f"{app}_{kind}" for app in APPS for kind in ("bare", "index", "asset")}
ERROR_CLASSES = "BadRequest|Unauthorized|Forbidden|NotFound|Conflict|PayloadTooLarge|Unavailable"

ALICE, BOB = agent_token("alice"), agent_token("bob")
TINA, SUE, ROOT_ADMIN = agent_token("tina", "trainer"), agent_token("sue", "supervisor"), agent_token("root", "admin")
_app_numbers = itertools.count()


# -- the spec as JSON Schema --------------------------------------------------------------


def json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema (draft 4): `nullable` becomes a null type."""
    if isinstance(node, list):
        return [json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


class Spec:
    """docs/openapi.yaml, with validators for its schemas."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.root = json_schema({"components": raw["components"]})
        self.resolver = RefResolver("", self.root)

    def follow(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.pointer(node["$ref"])
        return node

    def pointer(self, ref: str) -> Any:
        assert ref.startswith("#/"), ref
        return functools.reduce(lambda node, key: node[key], ref[2:].split("/"), self.raw)

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = Draft4Validator(json_schema(schema), resolver=self.resolver)
        found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in found]

    def component(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def operations(self) -> set[tuple[str, str]]:
        return {(method, path) for path, item in self.raw["paths"].items() for method in item if method in METHODS}

    def template_of(self, path: str) -> str:
        """The spec path a concrete request path belongs to."""
        for template in self.raw["paths"]:
            pattern = "^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path):
                return str(template)
        raise AssertionError(f"no path of the spec matches {path}")


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(yaml.safe_load(SPEC_FILE.read_text()))


def walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def normalized(path: str) -> str:
    return re.sub(r"\{\w+\}", "{}", path)


# -- the channel's routes -----------------------------------------------------------------


async def ignore(message: Any) -> None:
    return None


def channel_routes() -> dict[str, set[tuple[str, str]]]:
    """The blueprint's routes by kind: http, websocket, static; as (method, spec path)."""
    app = Sanic(f"openapi_routes_{next(_app_numbers)}")
    channel = HandoffInput(HandoffConfig(redis_url="redis://127.0.0.1:9/0", jwt_secret=SECRET))
    app.blueprint(channel.blueprint(ignore), url_prefix=PREFIX)
    found: dict[str, set[tuple[str, str]]] = {"http": set(), "websocket": set(), "static": set()}
    for route in app.router.routes:
        path = "/" + str(route.path).lstrip("/")
        assert path.startswith(PREFIX), path
        path = re.sub(r"<(\w+)(?::[^>]*)?>", r"{\1}", path[len(PREFIX) :] or "/")
        kind = "static" if str(route.name).rsplit(".", 1)[-1] in STATIC_ROUTES else "http"
        if getattr(route.ctx, "websocket", False):
            kind = "websocket"
        for method in route.methods:
            found[kind].add((method.lower(), path))
    return found


def error_codes_in(path: Path) -> set[str]:
    text = path.read_text()
    raised = re.findall(rf"(?:{ERROR_CLASSES})\(\s*\"(\w+)\"", text)
    literal = re.findall(r"\"error\": \"(\w+)\"", text)
    return set(raised) | set(literal)


# -- (a) the spec against the code ---------------------------------------------------------


def test_spec_is_openapi_3_0_3_under_the_channel_prefix(spec: Spec) -> None:
    assert spec.raw["openapi"] == "3.0.3"
    assert [server["url"] for server in spec.raw["servers"]] == [PREFIX]
    operation_ids = [
        item[method]["operationId"] for item in spec.raw["paths"].values() for method in item if method in METHODS
    ]
    assert len(operation_ids) == len(set(operation_ids))


def test_every_route_is_in_the_spec_and_nothing_else(spec: Spec) -> None:
    routes = channel_routes()
    documented = spec.operations()
    assert routes["http"] - documented == set(), "routes missing from docs/openapi.yaml"
    assert documented - routes["http"] == set(), "docs/openapi.yaml describes routes the channel does not have"


def test_websockets_and_static_pages_are_documented(spec: Spec) -> None:
    routes = channel_routes()
    doc = API_DOC.read_text()
    sockets = {path for _, path in routes["websocket"]}
    assert sockets == {"/agent/ws", "/customer/ws"}
    for path in sockets:
        assert f"`{path}`" in doc and path in spec.raw["x-websockets"], path
    for app in APPS:
        assert f"`/{app}/`" in doc, app
        assert ("get", f"/{app}/") in routes["static"] and ("head", f"/{app}/") in routes["static"]


def test_api_md_lists_every_operation(spec: Spec) -> None:
    doc = normalized(API_DOC.read_text())
    missing = [
        f"{method.upper()} {path}"
        for method, path in sorted(spec.operations())
        if f"`{method.upper()} {normalized(path)}`" not in doc
    ]
    assert missing == [], "operations missing from the endpoint table of docs/api.md"


def test_every_reference_resolves_and_every_example_fits(spec: Spec) -> None:
    for node in walk(spec.raw):
        if isinstance(node, dict) and "$ref" in node:
            assert spec.pointer(node["$ref"]) is not None, node["$ref"]
    for name, schema in spec.raw["components"]["schemas"].items():
        if "example" in schema:
            assert spec.errors(spec.component(name), schema["example"]) == [], name


def test_every_operation_documents_its_errors_in_the_error_format(spec: Spec) -> None:
    error = "#/components/schemas/Error"
    for method, path in spec.operations():
        operation = spec.raw["paths"][path][method]
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        statuses = set(operation["responses"])
        if path.startswith("/agent/"):
            assert schemes == {"agentToken"} and "401" in statuses, (method, path)
        if path.startswith("/customer/"):
            assert schemes == {"customerToken"} and "401" in statuses, (method, path)
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = spec.follow(response)["content"]["application/json"]["schema"]
            refs = [node["$ref"] for node in walk(schema) if isinstance(node, dict) and "$ref" in node]
            assert refs == [error], (method, path, status)


def test_conversation_detail_is_a_conversation_with_a_transcript(spec: Spec) -> None:
    schemas = spec.raw["components"]["schemas"]
    conversation, detail = schemas["Conversation"], schemas["ConversationDetail"]
    assert {k: v for k, v in detail["properties"].items() if k != "transcript"} == conversation["properties"]
    assert detail["required"] == [*conversation["required"], "transcript"]


def test_every_error_code_of_the_code_is_documented(spec: Spec) -> None:
    by_file = {path.name: error_codes_in(path) for path in CODE.glob("*.py")}
    everywhere = set().union(*by_file.values())
    doc = API_DOC.read_text()
    assert sorted(code for code in everywhere if f"`{code}`" not in doc) == [], "codes missing from docs/api.md"
    documented = {
        code
        for node in walk(spec.raw)
        if isinstance(node, dict) and isinstance(node.get("error"), dict)
        for code in node["error"].get("enum", [])
    }
    elsewhere = set().union(
        *(codes for name, codes in by_file.items() if name not in ("sockets.py", "routes_static.py"))
    )
    assert sorted(elsewhere - documented) == [], "HTTP error codes missing from docs/openapi.yaml"
    frame_codes = set(spec.raw["components"]["schemas"]["ErrorFrame"]["properties"]["error"]["enum"])
    assert by_file["sockets.py"] <= frame_codes


def test_every_feed_event_and_close_code_is_documented(spec: Spec) -> None:
    lua = "\n".join(path.read_text() for path in (CODE / "lua").glob("*.lua"))
    events = set(re.findall(r"emit\([^,]+,[^,]+,\s*'(\w+)'", lua))
    events |= set(re.findall(r"\"type\": \"(\w+)\", \"conv\"", (CODE / "store.py").read_text()))
    assert {"message", "waiting", "claimed", "released"} <= events
    documented = set(spec.raw["components"]["schemas"]["EventFrame"]["properties"]["event"]["enum"])
    doc = API_DOC.read_text()
    assert events == documented
    assert sorted(event for event in events if f"| `{event}` |" not in doc) == []
    sockets = (CODE / "sockets.py").read_text()
    codes = set(re.findall(r"^CLOSE_\w+ = (\d+)$", sockets, re.MULTILINE)) | set(re.findall(r"code=(\d+)", sockets))
    assert {"4401", "4408", "4503", "1009"} <= codes
    for code in codes:
        assert f"| {code} |" in doc and code in spec.raw["x-websockets"]["close-codes"], code


# -- (b) real answers against the spec -----------------------------------------------------


class Exchange:
    """Requests to the running channel; every answer is checked against the spec."""

    def __init__(self, channel: ChannelServer, spec: Spec) -> None:
        self.channel = channel
        self.spec = spec
        self.answered: set[tuple[str, str, int]] = set()

    async def __call__(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        token: str | None = None,
        raw: bytes | None = None,
        authorization: str | None = None,
    ) -> Any:
        assert self.channel.http is not None
        headers = {"Authorization": authorization or f"Bearer {token}"} if token or authorization else {}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        for _ in range(3):
            async with self.channel.http.request(method, self.channel.base + path, data=data, headers=headers) as got:
                text = await got.text()
                media = got.headers.get("Content-Type", "").split(";")[0].strip()
                retry_after = got.headers.get("Retry-After")
            if got.status != 429 or status == 429:
                break
            # Over the request limit (a fast run): the refusal must fit the spec too; then retry.
            self.check(method, path, 429, media, text)
            await asyncio.sleep(float(retry_after or 1) + 0.05)
        assert got.status == status, f"{method} {path}: expected {status}, got {got.status}: {text[:500]}"
        return self.check(method, path, status, media, text)

    def check(self, method: str, path: str, status: int, media: str, text: str) -> Any:
        template = self.spec.template_of(path.split("?")[0])
        operation = self.spec.raw["paths"][template][method.lower()]
        assert str(status) in operation["responses"], f"{method} {template}: status {status} is not in the spec"
        content = self.spec.follow(operation["responses"][str(status)])["content"]
        assert media in content, f"{method} {template} {status}: content type {media} is not in the spec"
        answer_body = json.loads(text) if media == "application/json" else text
        if media == "application/x-yaml":
            answer_body = yaml.safe_load(text)
        problems = self.spec.errors(content[media]["schema"], answer_body)
        assert problems == [], f"{method} {template} {status}: {problems} in {answer_body}"
        if status >= 400:
            assert self.spec.errors(self.spec.component("Error"), answer_body) == []
        self.answered.add((method.lower(), template, status))
        return answer_body

    async def status_of(self, method: str, path: str, token: str) -> int:
        """One request whatever its answer; the answer must fit the spec."""
        assert self.channel.http is not None
        headers = {"Authorization": f"Bearer {token}"}
        async with self.channel.http.request(method, self.channel.base + path, headers=headers) as got:
            text = await got.text()
            media = got.headers.get("Content-Type", "").split(";")[0].strip()
        if got.status == 429:
            assert got.headers.get("Retry-After") == "1"
        self.check(method, path, got.status, media, text)
        return got.status


AGENT_FRAMES = {"ready": "AgentReadyFrame", "reset": "ResetFrame", "event": "EventFrame", "pong": "PongFrame"}
CUSTOMER_FRAMES = {
    "ready": "CustomerReadyFrame",
    "queue": "QueueFrame",
    "message": "MessageFrame",
    "state": "StateFrame",
    "pong": "PongFrame",
}
EVENT_DATA = {"message": "TranscriptMessage", "reading": "ReadingEvent"}


def check_frames(spec: Spec, frames: list[Frame], kinds: dict[str, str]) -> set[str]:
    """Validates frames against their schemas; returns the frame (and event) types seen."""
    seen = set()
    for frame in frames:
        name = kinds.get(frame["type"])
        assert name is not None, f"undocumented frame {frame}"
        assert spec.errors(spec.component(name), frame) == [], frame
        seen.add(frame["type"])
        if frame["type"] == "event":
            data_schema = EVENT_DATA.get(frame["event"], "ConversationSummary")
            assert spec.errors(spec.component(data_schema), frame["data"]) == [], frame
            seen.add(f"event:{frame['event']}")
    return seen


async def refused_frame(url: str, token: str) -> Frame:
    socket = await LiveSocket.open(url, token)
    await socket.close()
    return socket.ready


async def test_real_answers_match_the_spec(channel: ChannelServer, spec: Spec) -> None:
    api = Exchange(channel, spec)
    feed = await LiveSocket.open(f"{channel.ws_base}/agent/ws", ALICE)
    await feed.connection.send(json.dumps({"type": "ping"}))
    await feed.next(lambda f: f["type"] == "pong")
    expired = jwt.encode({"sub": "alice", "exp": int(time.time()) - 10}, SECRET, algorithm="HS256")

    # Health and the customer side.
    await api("GET", "/", 200)
    hello = {"sender": "c1", "message": "hello", "message_id": "m-1"}
    first = await api("POST", "/webhook", 200, hello)
    c1 = first["customer_token"]
    assert await api("POST", "/webhook", 200, hello, c1) == first
    await api("POST", "/webhook", 401, {"sender": "c1", "message": "hello"})
    await api("POST", "/webhook", 401, {"sender": "c1", "message": "hello"}, c1 + "x")
    await api("POST", "/webhook", 401, {"sender": "c1", "message": "hello"}, authorization="Basic abc")
    await api("POST", "/webhook", 400, raw=b"{not json")
    await api("POST", "/webhook", 400, raw=b"[1, 2]")
    await api("POST", "/webhook", 400, {"sender": "c 1", "message": "hi"})
    await api("POST", "/webhook", 400, {"message": "hi"})
    await api("POST", "/webhook", 400, {"sender": "c1", "message": "   "}, c1)
    await api("POST", "/webhook", 413, {"sender": "c1", "message": "a" * 4097}, c1)
    await api("POST", "/webhook", 413, {"sender": "c1", "message": "hi", "pad": "a" * 16500}, c1)
    customer = await LiveSocket.open(f"{channel.ws_base}/customer/ws", c1, after="0-0")
    await api("GET", "/customer/messages", 200, token=c1)
    await api("GET", "/customer/messages?after=0-0", 200, token=c1)
    await api("GET", "/customer/messages?after=yesterday", 400, token=c1)
    await api("GET", "/customer/messages", 401)
    waiting = await api("POST", "/webhook", 200, {"sender": "c1", "message": "gibberish qwxz"}, c1)
    assert (waiting["state"], waiting["queue_position"]) == ("waiting", 1)
    quiet = await api("POST", "/webhook", 200, {"sender": "c1", "message": "where is my parcel"}, c1)
    assert quiet["messages"] == []
    c2 = (await api("POST", "/webhook", 200, {"sender": "c2", "message": "hello"}))["customer_token"]
    c3 = (await api("POST", "/webhook", 200, {"sender": "c3", "message": "I want a human"}))["customer_token"]
    await api("POST", "/customer/cancel", 200, token=c3)
    await api("POST", "/customer/cancel", 409, token=c3)
    await api("POST", "/customer/cancel", 401)
    await api("GET", "/customer/messages", 200, token=c3)
    await api("POST", "/webhook", 200, {"sender": "c2", "message": "are you there?"}, c2)

    # Who is here, the desk and its settings.
    await api("GET", "/agent/me", 200, token=ALICE)
    await api("GET", "/agent/me", 401)
    await api("GET", "/agent/me", 401, token=expired)
    await api("GET", "/agent/me", 401, authorization="Basic abc")
    await api("GET", "/agent/intents", 200, token=ALICE)
    await api("PUT", "/agent/status", 200, {"status": "online"}, ALICE)
    await api("PUT", "/agent/status", 400, {"status": "asleep"}, ALICE)
    await api("GET", "/agent/agents", 200, token=BOB)
    await api("GET", "/agent/settings", 200, token=ALICE)
    hours = {"timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]}
    await api("PUT", "/agent/settings", 200, {"office_hours": hours, "claim_timeout_s": 600}, ROOT_ADMIN)
    await api("PATCH", "/agent/settings", 200, {"office_hours": None, "review_training": False}, ROOT_ADMIN)
    await api("PUT", "/agent/settings", 403, {"enabled": False}, SUE)
    await api("PATCH", "/agent/settings", 400, {"colour": "red"}, ROOT_ADMIN)
    await api("PATCH", "/agent/settings", 400, {"no_agents_policy": "panic"}, ROOT_ADMIN)

    # The lists and a conversation.
    for view in ("waiting", "live", "mine", "all"):
        await api("GET", f"/agent/conversations?view={view}", 200, token=ALICE)
    await api("GET", "/agent/conversations?view=everything", 400, token=ALICE)
    await api("GET", "/agent/conversations?limit=0", 400, token=ALICE)
    detail = await api("GET", "/agent/conversations/c1", 200, token=ALICE)
    assert any("reading" in m for m in detail["transcript"] if m["from"] == "customer")
    await api("GET", "/agent/conversations/nobody", 404, token=ALICE)
    await api("GET", "/agent/conversations/bad%20id", 400, token=ALICE)

    # Claim, take over, capacity.
    await api("POST", "/agent/conversations/c1/claim", 200, token=ALICE)
    await api("POST", "/agent/conversations/c1/claim", 409, token=BOB)
    await api("POST", "/agent/conversations/c2/claim", 409, token=BOB)
    await api("POST", "/agent/conversations/nobody/claim", 404, token=BOB)
    await api("POST", "/agent/conversations/c2/takeover", 200, token=BOB)
    await api("POST", "/agent/conversations/c1/takeover", 409, token=BOB)
    await api("PATCH", "/agent/settings", 200, {"max_chats_per_agent": 1}, ROOT_ADMIN)
    await api("POST", "/webhook", 200, {"sender": "c4", "message": "gibberish"})
    await api("POST", "/agent/conversations/c4/claim", 409, token=ALICE)
    await api("PATCH", "/agent/settings", 200, {"max_chats_per_agent": 0}, ROOT_ADMIN)

    # Chat, notes, customer details.
    await api("POST", "/agent/conversations/c1/messages", 201, {"text": "Hi, Alice here."}, ALICE)
    await api("POST", "/agent/conversations/c1/messages", 403, {"text": "Bob here"}, BOB)
    await api("POST", "/agent/conversations/c1/messages", 400, {"text": "  "}, ALICE)
    await api("POST", "/agent/conversations/c1/messages", 400, raw=b"", token=ALICE)
    await api("POST", "/agent/conversations/c1/messages", 413, {"text": "a" * 4097}, ALICE)
    await api("POST", "/agent/conversations/c4/messages", 409, {"text": "hi"}, ALICE)
    await api("POST", "/agent/conversations/nobody/messages", 404, {"text": "hi"}, ALICE)
    await api("POST", "/agent/conversations/c1/notes", 201, {"text": "VIP customer"}, ALICE)
    await api("POST", "/agent/conversations/c2/notes", 403, {"text": "not mine"}, ALICE)
    await api("GET", "/agent/conversations/c1/notes", 200, token=BOB)
    await api("GET", "/agent/conversations/nobody/notes", 404, token=BOB)
    await api("PUT", "/agent/conversations/c1/customer", 200, {"name": "Dana", "order": "A-1001"}, ALICE)
    await api("PATCH", "/agent/conversations/c1/customer", 200, {"order": None}, ALICE)
    await api("GET", "/agent/conversations/c1/customer", 200, token=BOB)
    await api("PUT", "/agent/conversations/c1/customer", 400, {"Bad Name": "x"}, ALICE)
    await api("PATCH", "/agent/conversations/c2/customer", 403, {"name": "Eve"}, ALICE)
    await api("GET", "/agent/conversations/nobody/customer", 404, token=ALICE)

    # Canned responses.
    greeting = {"shortcut": "hello", "title": "Greeting", "text": "Hi {customer_name}, I'm {agent_name}."}
    created = await api("POST", "/agent/canned-responses", 201, greeting, SUE)
    response_id = created["canned_response"]["id"]
    await api("POST", "/agent/canned-responses", 403, greeting, ALICE)
    await api("POST", "/agent/canned-responses", 400, {"shortcut": "x", "text": "Hi {password}"}, SUE)
    await api("GET", "/agent/canned-responses", 200, token=ALICE)
    await api("GET", "/agent/canned-responses?q=greet", 200, token=ALICE)
    await api("PUT", f"/agent/canned-responses/{response_id}", 200, {**greeting, "text": "Hello!"}, SUE)
    await api("PUT", "/agent/canned-responses/nope", 404, greeting, SUE)
    await api("DELETE", f"/agent/canned-responses/{response_id}", 403, token=ALICE)
    await api("DELETE", f"/agent/canned-responses/{response_id}", 200, token=SUE)
    await api("DELETE", f"/agent/canned-responses/{response_id}", 404, token=SUE)

    # Training examples and their review.
    example = {"text": "wheres my parcel", "intent": "order_status"}
    added = await api("POST", "/agent/conversations/c1/training-examples", 201, example, ALICE)
    assert (await api("POST", "/agent/conversations/c1/training-examples", 200, example, BOB))["example"][
        "contributors"
    ] == ["alice", "bob"]
    spans = [{"start": 17, "end": 23, "entity": "order_id"}]
    annotated = {"text": "wheres my parcel A-1001", "intent": "order_status", "entities": spans}
    await api("POST", "/agent/conversations/c1/training-examples", 201, annotated, BOB)
    await api("POST", "/agent/conversations/c1/training-examples", 201, {"text": "refund?", "intent": "refunds"}, BOB)
    await api("POST", "/agent/conversations/c1/training-examples", 400, {**example, "intent": "no spaces"}, BOB)
    await api("POST", "/agent/conversations/nobody/training-examples", 404, example, BOB)
    example_id = added["example"]["id"]
    await api("PATCH", f"/agent/training-examples/{example_id}", 403, {"status": "rejected"}, ALICE)
    await api("PATCH", f"/agent/training-examples/{example_id}", 200, {"status": "rejected"}, TINA)
    await api("PATCH", f"/agent/training-examples/{example_id}", 400, {"colour": "red"}, TINA)
    await api("PATCH", "/agent/training-examples/0000000000000000", 404, {"status": "accepted"}, TINA)
    await api("GET", "/agent/training-examples", 200, token=BOB)
    await api("GET", "/agent/training-examples?status=pending", 200, token=BOB)
    exported = await api("GET", "/agent/training-examples?format=yaml", 200, token=BOB)
    assert [block["intent"] for block in exported["nlu"]] == ["order_status"]
    await api("GET", "/agent/training-examples?format=csv", 400, token=BOB)
    await api("GET", "/agent/training-examples?status=maybe", 400, token=BOB)

    # Transfer, back to the queue, release.
    await api("POST", "/agent/conversations/c1/transfer", 200, {"agent": "bob", "agent_name": "Bob"}, ALICE)
    await api("POST", "/agent/conversations/c1/transfer", 409, {"agent": "bob"}, BOB)
    await api("POST", "/agent/conversations/c1/transfer", 403, {"agent": "carol"}, ALICE)
    await api("POST", "/agent/conversations/c1/transfer", 400, raw=b"[]", token=SUE)
    await api("POST", "/agent/conversations/c1/transfer", 200, {}, SUE)
    await api("POST", "/agent/conversations/c1/transfer", 409, {}, SUE)
    await api("POST", "/agent/conversations/nobody/transfer", 404, {}, SUE)
    await api("POST", "/agent/conversations/c1/claim", 200, token=ALICE)
    await api("POST", "/agent/conversations/c1/release", 403, token=BOB)
    await api("POST", "/agent/conversations/c1/release", 200, token=ALICE)
    await api("POST", "/agent/conversations/c1/release", 409, token=ALICE)
    await api("POST", "/agent/conversations/nobody/release", 404, token=ALICE)
    await api("POST", "/agent/conversations/c2/release", 200, token=SUE)
    await api("GET", "/customer/messages", 200, token=c1)
    await api("GET", "/agent/conversations/c1", 200, token=ALICE)
    await api("GET", "/agent/conversations?view=all", 200, token=ALICE)

    # Request limits.
    flood = agent_token("flood")
    statuses = await asyncio.gather(*(api.status_of("GET", "/agent/me", flood) for _ in range(80)))
    assert 429 in statuses and 200 in statuses

    # The figures.
    metrics = await api("GET", "/metrics", 200)
    assert "handoff_queue_length" in metrics
    stats = await api("GET", "/agent/stats?top=5", 200, token=ALICE)
    assert stats["totals"]["claims"] >= 0
    await api("GET", "/agent/stats?top=99", 400, token=ALICE)

    # Every operation of the spec answered successfully at least once; the errors too.
    succeeded = {(method, path) for method, path, status in api.answered if status < 300}
    assert spec.operations() - succeeded == set(), "operations the run did not exercise"
    assert {400, 401, 403, 404, 409, 413} <= {status for _, _, status in api.answered}

    # The WebSocket frames of all that, and a resume from the start.
    await asyncio.sleep(0.3)
    agent_seen = check_frames(spec, [feed.ready, *feed.seen, *await feed.drain()], AGENT_FRAMES)
    events = {
        f"event:{name}" for name in spec.raw["components"]["schemas"]["EventFrame"]["properties"]["event"]["enum"]
    }
    assert events <= agent_seen, events - agent_seen
    await customer.connection.send(json.dumps({"type": "ping"}))
    customer_seen = check_frames(spec, [customer.ready, *await customer.drain()], CUSTOMER_FRAMES)
    assert set(CUSTOMER_FRAMES) <= customer_seen, set(CUSTOMER_FRAMES) - customer_seen
    replay = await LiveSocket.open(f"{channel.ws_base}/agent/ws", BOB, after="0-0")
    frames = [replay.ready, *await replay.drain()]
    assert [f["type"] for f in frames[:2]] == ["ready", "reset"]
    check_frames(spec, frames, AGENT_FRAMES)
    for socket in (feed, customer, replay):
        await socket.close()
    for url, token in ((f"{channel.ws_base}/agent/ws", "nonsense"), (f"{channel.ws_base}/customer/ws", c1 + "x")):
        refused = await refused_frame(url, token)
        assert refused["type"] == "error"
        assert spec.errors(spec.component("ErrorFrame"), refused) == [], refused

"""Agent endpoints: the views, a conversation, claim, chat, release, training."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import replace
from typing import Any

from redis.exceptions import RedisError
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json, text

from channels.handoff.auth import AgentIdentity
from channels.handoff.config import HandoffConfig
from channels.handoff.context import ChannelContext
from channels.handoff.errors import BadRequest, Forbidden, NotFound
from channels.handoff.examples import STATUSES, TrainingExample
from channels.handoff.http import agent_of, agent_quota, api, limited_agent, rate_limit, runtime_of
from channels.handoff.runtime import HandoffRuntime
from channels.handoff.store import VIEWS, Conversation, now_ms
from channels.handoff.training import exportable, to_nlu_yaml, validate_entities, with_conflicts
from channels.handoff.validation import (
    identifier,
    intent_name,
    json_object,
    optional_identifier,
    path_id,
    required,
    text_field,
)

logger = logging.getLogger(__name__)


async def count_training(runtime: HandoffRuntime, what: str) -> None:
    """Examples added and exported never reach the live feed: counted here, by the
    route that did it (a failure to count is logged, the request still succeeds)."""
    try:
        await runtime.analytics.record_training(what)
    except (RedisError, OSError) as failure:
        logger.warning("analytics: training %s not counted (%r)", what, failure)


def page_arguments(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", 100))
        offset = int(request.args.get("offset", 0))
    except ValueError as bad:
        raise BadRequest("invalid_query", "'limit' and 'offset' must be whole numbers.") from bad
    if not 1 <= limit <= 500 or not 0 <= offset <= MAX_OFFSET:
        raise BadRequest("invalid_query", f"'limit' must be 1 to 500 and 'offset' 0 to {MAX_OFFSET}.")
    return limit, offset


def register(bp: Blueprint, context: ChannelContext) -> None:
    config = context.config

    @bp.route("/agent/me", methods=["GET"])
    @api
    async def me(request: Request) -> HTTPResponse:
        return json({"agent": (await limited_agent(request, config)).to_dict()})

    @bp.route("/agent/intents", methods=["GET"])
    @api
    async def intents(request: Request) -> HTTPResponse:
        await limited_agent(request, config)
        return json({"intents": context.bridge_for(request.app).intents()})

    @bp.route("/agent/conversations", methods=["GET"])
    @api
    async def conversations(request: Request) -> HTTPResponse:
        agent = agent_of(request, config)
        view = request.args.get("view", "waiting")
        if view not in VIEWS:
            raise BadRequest("invalid_view", f"'view' must be one of {', '.join(VIEWS)}.")
        limit, offset = page_arguments(request)
        store = runtime_of(request).store
        if view != "mine":  # counted and built in Redis as the answer's JSON: nothing to parse here
            page = await store.conversation_page_json(view, limit, offset, agent_quota(agent, config))
            body = b'{"view":"' + view.encode() + b'","conversations":' + page + b"}"
            return HTTPResponse(body, content_type="application/json")
        await rate_limit(request, agent_quota(agent, config))
        found = await store.list_conversations(view, agent.id, limit, offset)
        return json({"view": view, "conversations": [c.to_dict() for c in found]})

    @bp.route("/agent/conversations/<conversation_id:str>", methods=["GET"])
    @api
    async def conversation(request: Request, conversation_id: str) -> HTTPResponse:
        await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        found = await runtime_of(request).store.require_conversation(conversation_id)
        transcript = await context.service(request).transcript_for_agents(conversation_id)
        return json({**found.to_dict(), "transcript": [m.to_dict() for m in transcript]})

    @bp.route("/agent/conversations/<conversation_id:str>/claim", methods=["POST"])
    @api
    async def claim(request: Request, conversation_id: str) -> HTTPResponse:
        agent = agent_of(request, config)  # the claim's script counts the request
        conversation_id = path_id(conversation_id, "conversation id")
        claimed = await context.service(request).claim(conversation_id, agent, agent_quota(agent, config))
        return json(claimed.to_dict())

    @bp.route("/agent/conversations/<conversation_id:str>/messages", methods=["POST"])
    @api
    async def send(request: Request, conversation_id: str) -> HTTPResponse:
        agent = agent_of(request, config)  # the message's script counts the request
        conversation_id = path_id(conversation_id, "conversation id")
        body = text_field(json_object(request.body, config.max_body_bytes), "text", config.max_text_chars)
        message = await context.service(request).agent_message(conversation_id, agent, body, agent_quota(agent, config))
        return json({"message": message.to_dict()}, status=201)

    @bp.route("/agent/conversations/<conversation_id:str>/release", methods=["POST"])
    @api
    async def release(request: Request, conversation_id: str) -> HTTPResponse:
        agent = await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        released = await context.service(request).release(conversation_id, agent)
        return json(released.to_dict())

    @bp.route("/agent/conversations/<conversation_id:str>/training-examples", methods=["POST"])
    @api
    async def add_example(request: Request, conversation_id: str) -> HTTPResponse:
        agent = await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        data = json_object(request.body, config.max_body_bytes)
        example_text = text_field(data, "text", config.max_text_chars)
        intent = intent_name(required(data, "intent"))
        entities = entity_spans(example_text, data.get("entities"))
        runtime = runtime_of(request)
        await runtime.store.require_conversation(conversation_id)
        desk = await context.service(request).desk_settings()
        example = TrainingExample(
            example_text,
            intent,
            agent.id,
            conversation_id,
            now_ms(),
            entities=entities,
            status="pending" if desk.review_training else "accepted",
            proposed_intent=intent not in context.bridge_for(request.app).intents(),
        )
        created = await runtime.store.add_training_example(example)
        stored = await runtime.store.training_example(example.id)
        flagged = next(e for e in await flagged_examples(runtime, context) if e.id == example.id) if stored else example
        if created:  # a repeat (200) is not counted
            await count_training(runtime, "added")
        return json({"example": flagged.to_dict(), "created": created}, status=201 if created else 200)

    @bp.route("/agent/training-examples", methods=["GET"])
    @api
    async def examples(request: Request) -> HTTPResponse:
        await limited_agent(request, config)
        output = request.args.get("format", "json")
        if output not in ("json", "yaml"):
            raise BadRequest("invalid_format", "'format' must be json or yaml.")
        wanted = request.args.get("status", "all")
        if wanted not in (*STATUSES, "all"):
            raise BadRequest("invalid_query", f"'status' must be one of {', '.join(STATUSES)} or all.")
        found = await flagged_examples(runtime_of(request), context)
        if output == "yaml":
            exported = to_nlu_yaml(exportable(found))
            await count_training(runtime_of(request), "exported")
            return text(exported, content_type="application/x-yaml; charset=utf-8")
        listed = [e for e in found if wanted in ("all", e.status)]
        return json({"examples": [e.to_dict() for e in listed]})

    @bp.route("/agent/training-examples/<example_id:str>", methods=["PATCH"])
    @api
    async def review_example(request: Request, example_id: str) -> HTTPResponse:
        reviewer = await limited_agent(request, config)
        reviewer.require("trainer")
        store = runtime_of(request).store
        example = await store.training_example(example_id)
        if example is None:
            raise NotFound("unknown_example", f"No training example {example_id!r}.")
        data = json_object(request.body, config.max_body_bytes)
        unknown = set(data) - {"text", "intent", "entities", "status"}
        if unknown:
            raise BadRequest("invalid_field", f"Unknown fields: {', '.join(sorted(unknown))}.")
        new_text = text_field(data, "text", config.max_text_chars) if "text" in data else example.text
        intent = intent_name(data["intent"]) if "intent" in data else example.intent
        status = data.get("status", example.status)
        if status not in STATUSES:
            raise BadRequest("invalid_field", f"'status' must be one of {', '.join(STATUSES)}.", field="status")
        entities = (
            entity_spans(new_text, data["entities"])
            if "entities" in data
            else (example.entities if new_text == example.text else ())
        )
        edited = replace(
            example,
            text=new_text,
            intent=intent,
            entities=entities,
            status=status,
            proposed_intent=intent not in context.bridge_for(request.app).intents(),
            reviewed_by=reviewer.id,
            reviewed_at=now_ms(),
        )
        await store.replace_training_example(example_id, edited)
        flagged = next(e for e in await flagged_examples(runtime_of(request), context) if e.id == edited.id)
        return json({"example": flagged.to_dict()})

    @bp.route("/agent/settings", methods=["GET"])
    @api
    async def read_settings(request: Request) -> HTTPResponse:
        await limited_agent(request, config)
        return json((await context.service(request).desk_settings()).to_dict())

    @bp.route("/agent/settings", methods=["PUT", "PATCH"])
    @api
    async def change_settings(request: Request) -> HTTPResponse:
        (await limited_agent(request, config)).require("admin")
        changes = json_object(request.body, config.max_body_bytes)
        service = context.service(request)
        settings = (await service.desk_settings()).updated(changes)
        await service.store.save_desk_settings(settings)
        return json(settings.to_dict())

    @bp.route("/agent/conversations/<conversation_id:str>/transfer", methods=["POST"])
    @api
    async def transfer(request: Request, conversation_id: str) -> HTTPResponse:
        agent = await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        data = json_object(request.body, config.max_body_bytes)
        target_id = optional_identifier(data, "agent")
        target = None
        if target_id is not None:
            known = {a["id"]: a for a in await runtime_of(request).store.agents(grace_ms=0)}
            profile = known.get(target_id, {})
            target = AgentIdentity(target_id, str(data.get("agent_name") or profile.get("name") or target_id), "agent")
        transferred = await context.service(request).transfer(conversation_id, agent, target)
        return json(transferred.to_dict())

    @bp.route("/agent/conversations/<conversation_id:str>/takeover", methods=["POST"])
    @api
    async def takeover(request: Request, conversation_id: str) -> HTTPResponse:
        agent = await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        taken = await context.service(request).takeover(conversation_id, agent)
        return json(taken.to_dict())

    @bp.route("/agent/conversations/<conversation_id:str>/notes", methods=["GET"])
    @api
    async def notes(request: Request, conversation_id: str) -> HTTPResponse:
        await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        store = runtime_of(request).store
        await store.require_conversation(conversation_id)
        return json({"notes": await store.notes(conversation_id)})

    @bp.route("/agent/conversations/<conversation_id:str>/notes", methods=["POST"])
    @api
    async def add_note(request: Request, conversation_id: str) -> HTTPResponse:
        agent = await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        note_text = text_field(json_object(request.body, config.max_body_bytes), "text", config.max_text_chars)
        store = runtime_of(request).store
        require_can_act(agent, await store.require_conversation(conversation_id))
        note = {"id": uuid.uuid4().hex, "agent": agent.id, "agent_name": agent.name, "text": note_text, "at": now_ms()}
        await store.add_note(conversation_id, note)
        return json({"note": note}, status=201)

    @bp.route("/agent/conversations/<conversation_id:str>/customer", methods=["GET"])
    @api
    async def customer(request: Request, conversation_id: str) -> HTTPResponse:
        await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        store = runtime_of(request).store
        await store.require_conversation(conversation_id)
        return json({"customer": await store.customer_details(conversation_id)})

    @bp.route("/agent/conversations/<conversation_id:str>/customer", methods=["PUT", "PATCH"])
    @api
    async def edit_customer(request: Request, conversation_id: str) -> HTTPResponse:
        agent = await limited_agent(request, config)
        conversation_id = path_id(conversation_id, "conversation id")
        changes = customer_changes(json_object(request.body, config.max_body_bytes))
        store = runtime_of(request).store
        require_can_act(agent, await store.require_conversation(conversation_id))
        return json({"customer": await store.update_customer_details(conversation_id, changes)})

    @bp.route("/agent/canned-responses", methods=["GET"])
    @api
    async def canned(request: Request) -> HTTPResponse:
        await limited_agent(request, config)
        query = (request.args.get("q") or "").lower()
        found = await runtime_of(request).store.canned_responses()
        if query:
            found = [r for r in found if query in f"{r['shortcut']} {r['title']} {r['text']}".lower()]
        return json({"canned_responses": found})

    @bp.route("/agent/canned-responses", methods=["POST"])
    @api
    async def create_canned(request: Request) -> HTTPResponse:
        (await limited_agent(request, config)).require("supervisor")
        response = canned_response(json_object(request.body, config.max_body_bytes), uuid.uuid4().hex, config)
        await runtime_of(request).store.save_canned_response(response)
        return json({"canned_response": response}, status=201)

    @bp.route("/agent/canned-responses/<response_id:str>", methods=["PUT"])
    @api
    async def edit_canned(request: Request, response_id: str) -> HTTPResponse:
        (await limited_agent(request, config)).require("supervisor")
        response_id = path_id(response_id, "canned response id")
        store = runtime_of(request).store
        if response_id not in {r["id"] for r in await store.canned_responses()}:
            raise NotFound("unknown_canned_response", f"No canned response {response_id!r}.")
        response = canned_response(json_object(request.body, config.max_body_bytes), response_id, config)
        await store.save_canned_response(response)
        return json({"canned_response": response})

    @bp.route("/agent/canned-responses/<response_id:str>", methods=["DELETE"])
    @api
    async def delete_canned(request: Request, response_id: str) -> HTTPResponse:
        (await limited_agent(request, config)).require("supervisor")
        response_id = path_id(response_id, "canned response id")
        if not await runtime_of(request).store.delete_canned_response(response_id):
            raise NotFound("unknown_canned_response", f"No canned response {response_id!r}.")
        return json({"deleted": response_id})

    @bp.route("/agent/agents", methods=["GET"])
    @api
    async def agents(request: Request) -> HTTPResponse:
        await limited_agent(request, config)
        desk = await context.service(request).desk_settings()
        return json({"agents": await runtime_of(request).store.agents(desk.offline_grace_s * 1000)})

    @bp.route("/agent/status", methods=["PUT"])
    @api
    async def status(request: Request) -> HTTPResponse:
        agent = await limited_agent(request, config)
        chosen = required(json_object(request.body, config.max_body_bytes), "status")
        if chosen not in AGENT_STATUSES:
            raise BadRequest("invalid_field", f"'status' must be one of {', '.join(AGENT_STATUSES)}.", field="status")
        store = runtime_of(request).store
        await store.set_agent_status(agent.id, chosen)
        await store.touch_agent(agent.id, agent.name, agent.role)
        return json({"agent": agent.to_dict(), "status": chosen})


AGENT_STATUSES = ("online", "away", "offline")
MAX_OFFSET = 1_000_000
CUSTOMER_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
PLACEHOLDERS = ("customer_name", "agent_name")


async def flagged_examples(runtime: HandoffRuntime, context: ChannelContext) -> list[TrainingExample]:
    return with_conflicts(await runtime.store.training_examples(), context.existing_nlu)


def entity_spans(example_text: str, entities: Any) -> tuple[dict[str, Any], ...]:
    try:
        return validate_entities(example_text, entities)
    except ValueError as bad:
        raise BadRequest("invalid_field", str(bad), field="entities") from bad


def require_can_act(agent: AgentIdentity, conversation: Conversation) -> None:
    """Agents act on waiting conversations, the bot's, and their own; supervisors on all."""
    if conversation.state == "assigned" and conversation.agent != agent.id and not agent.at_least("supervisor"):
        raise Forbidden(
            "not_your_conversation", "Another agent is handling this conversation.", agent=conversation.agent
        )


def customer_changes(data: dict[str, Any]) -> dict[str, str | None]:
    """Customer detail fields: short lowercase names, string values (null deletes)."""
    if len(data) > 20:
        raise BadRequest("invalid_body", "At most 20 customer fields at once.")
    changes: dict[str, str | None] = {}
    for name, value in data.items():
        if not CUSTOMER_FIELD.match(name):
            raise BadRequest("invalid_field", f"Field names match {CUSTOMER_FIELD.pattern}.", field=name)
        if value is not None and (not isinstance(value, str) or len(value) > 500):
            raise BadRequest(
                "invalid_field", f"'{name}' must be a string of at most 500 characters, or null.", field=name
            )
        changes[name] = value
    return changes


def canned_response(data: dict[str, Any], response_id: str, config: HandoffConfig) -> dict[str, Any]:
    shortcut = identifier(required(data, "shortcut"), "shortcut")
    body = text_field(data, "text", config.max_text_chars)
    unknown = sorted(set(PLACEHOLDER.findall(body)) - set(PLACEHOLDERS))
    if unknown:
        raise BadRequest("invalid_field", f"Unknown placeholders: {', '.join(unknown)}.", field="text")
    title = data.get("title") or shortcut
    if not isinstance(title, str) or len(title) > 200:
        raise BadRequest("invalid_field", "'title' must be a string of at most 200 characters.", field="title")
    return {"id": response_id, "shortcut": shortcut, "title": title, "text": body}

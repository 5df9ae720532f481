"""Training examples from agents: merging, conflicts, proposed intents, entities,
review, and the export Rasa trains on."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from channels.handoff.examples import TrainingExample, normalize
from channels.handoff.training import existing_examples, plain_text, to_nlu_yaml, validate_entities
from tests.channel_server import ChannelServer, agent_token
from tests.stack import ROOT

ALICE, BOB = agent_token("alice"), agent_token("bob")
TRAINER, SUPERVISOR = agent_token("tina", "trainer"), agent_token("sue", "supervisor")
ADMIN = agent_token("root", "admin")


async def label(channel: ChannelServer, text: str, intent: str, token: str = ALICE, **extra: Any) -> tuple[int, Any]:
    body = {"text": text, "intent": intent, **extra}
    return await channel.request("POST", "/agent/conversations/c1/training-examples", body, token)


async def exported(channel: ChannelServer) -> dict[str, list[str]]:
    status, text = await channel.request("GET", "/agent/training-examples?format=yaml", token=ALICE)
    assert status == 200
    document = yaml.safe_load(text)
    assert document["version"] == "3.1"
    return {block["intent"]: block["examples"].splitlines() for block in document["nlu"] or []}


@pytest.fixture
async def labelled(channel: ChannelServer) -> ChannelServer:
    await channel.hand_over("c1")
    return channel


def test_existing_data_is_read_without_annotations() -> None:
    existing = existing_examples(ROOT / "data")
    assert existing[normalize("where is my order?")] == "order_status"
    assert plain_text('fly to [Berlin](city) on [monday]{"entity": "day"}') == "fly to Berlin on monday"


def test_entities_are_validated_and_rendered() -> None:
    text = "my order A-1001 never came"
    spans = validate_entities(text, [{"start": 9, "end": 15, "entity": "order_id"}])
    assert spans == ({"start": 9, "end": 15, "entity": "order_id", "value": "A-1001"},)
    example = TrainingExample(text, "order_status", "alice", "c1", 1, entities=spans)
    assert "      - my order [A-1001](order_id) never came\n" in to_nlu_yaml([example])
    for bad in ([{"start": 5, "end": 99, "entity": "x"}], [{"start": 0, "end": 2}], "x",
                [{"start": 0, "end": 5, "entity": "a"}, {"start": 3, "end": 7, "entity": "b"}],
                [{"start": False, "end": 1, "entity": "a"}], [{"start": 0, "end": True, "entity": "a"}]):  # fmt: skip
        with pytest.raises(ValueError):
            validate_entities(text, bad)


async def test_duplicates_merge_with_every_contributor(labelled: ChannelServer) -> None:
    status, first = await label(labelled, "wheres my jumper", "order_status")
    assert status == 201 and first["created"] is True
    status, again = await label(labelled, "  Wheres my jumper!! ", "order_status", BOB)
    assert status == 200 and again["created"] is False
    assert again["example"]["id"] == first["example"]["id"]
    assert again["example"]["contributors"] == ["alice", "bob"]
    _, listed = await labelled.request("GET", "/agent/training-examples", token=ALICE)
    assert len(listed["examples"]) == 1


async def test_conflicts_are_flagged_and_not_exported(labelled: ChannelServer) -> None:
    _, body = await label(labelled, "Where is my order?", "return_item")
    assert body["example"]["conflict"] == {"intent": "order_status", "source": "data"}
    await label(labelled, "jumper gone walkabout", "order_status")
    _, body = await label(labelled, "jumper gone walkabout", "return_item", BOB)
    assert body["example"]["conflict"] == {"intent": "order_status", "source": "examples"}
    _, listed = await labelled.request("GET", "/agent/training-examples", token=ALICE)
    conflicts = {(e["text"], e["intent"]): e["conflict"] for e in listed["examples"]}
    assert conflicts[("jumper gone walkabout", "order_status")] == {"intent": "return_item", "source": "examples"}
    assert await exported(labelled) == {}


async def test_proposed_intents_are_kept_apart(labelled: ChannelServer) -> None:
    status, body = await label(labelled, "do you sell gift cards", "gift_cards")
    assert status == 201 and body["example"]["proposed_intent"] is True
    await label(labelled, "my parcel is lost", "order_status")
    assert await exported(labelled) == {"order_status": ["- my parcel is lost"]}


async def test_review_edit_and_reject(labelled: ChannelServer) -> None:
    await labelled.request("PUT", "/agent/settings", {"review_training": True}, ADMIN)
    _, body = await label(labelled, "parcel went missing", "return_item")
    example_id = body["example"]["id"]
    assert body["example"]["status"] == "pending"
    assert await exported(labelled) == {}
    path = f"/agent/training-examples/{example_id}"
    assert (await labelled.request("PATCH", path, {"status": "accepted"}, ALICE))[0] == 403
    assert (await labelled.request("PATCH", path, {"status": "maybe"}, TRAINER))[0] == 400
    assert (await labelled.request("PATCH", "/agent/training-examples/nope", {"status": "accepted"}, TRAINER))[0] == 404
    status, body = await labelled.request("PATCH", path, {"intent": "order_status", "status": "accepted"}, TRAINER)
    assert status == 200
    assert (body["example"]["intent"], body["example"]["status"], body["example"]["reviewed_by"]) == (
        "order_status", "accepted", "tina"
    )  # fmt: skip
    assert await exported(labelled) == {"order_status": ["- parcel went missing"]}
    _, pending = await labelled.request("GET", "/agent/training-examples?status=pending", token=ALICE)
    assert pending["examples"] == []
    status, body = await labelled.request("PATCH", f"/agent/training-examples/{body['example']['id']}",
                                          {"status": "rejected"}, SUPERVISOR)  # fmt: skip
    assert status == 200 and body["example"]["status"] == "rejected"
    assert await exported(labelled) == {}


async def test_labels_with_entities_and_bad_input(labelled: ChannelServer) -> None:
    entities = [{"start": 9, "end": 15, "entity": "order_id"}]
    status, body = await label(labelled, "my order A-1001 never came", "order_status", entities=entities)
    assert status == 201 and body["example"]["entities"][0]["value"] == "A-1001"
    assert await exported(labelled) == {"order_status": ["- my order [A-1001](order_id) never came"]}
    status, body = await label(labelled, "my order", "order_status", entities=[{"start": 0, "end": 99, "entity": "x"}])
    assert (status, body["field"]) == (400, "entities")
    assert (await labelled.request("GET", "/agent/training-examples?status=lost", token=ALICE))[0] == 400

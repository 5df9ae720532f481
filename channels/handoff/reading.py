"""The bot's reading of a customer message, as agents see it."""

from __future__ import annotations

from typing import Any


def nlu_reading(parse: dict[str, Any]) -> dict[str, Any]:
    """Rasa's parse, compact: the intent, the top three intents and the entities."""
    intent = parse.get("intent") or {}
    ranking = parse.get("intent_ranking") or ([intent] if intent else [])
    return {
        "intent": intent.get("name"),
        "confidence": intent.get("confidence"),
        "intent_ranking": [{"name": i.get("name"), "confidence": i.get("confidence")} for i in ranking[:3]],
        "entities": [{k: e.get(k) for k in ("entity", "value", "start", "end")} for e in parse.get("entities") or []],
    }


def readings_by_text_order(
    customer_messages: list[tuple[str, str]], parses: list[tuple[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """Pairs a transcript's customer messages (id, text) with what the tracker read
    (text, parse), both oldest first: each message takes the next parse of the same
    text. Returns message id -> reading, for the parses that name an intent."""
    found: dict[str, dict[str, Any]] = {}
    next_parse = 0
    for message_id, text in customer_messages:
        for index in range(next_parse, len(parses)):
            if parses[index][0] == text:
                next_parse = index + 1
                if parses[index][1].get("intent"):
                    found[message_id] = nlu_reading(parses[index][1])
                break
    return found

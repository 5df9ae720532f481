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

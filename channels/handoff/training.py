"""From labelled examples to Rasa NLU training data (YAML, version 3.1):
conflicts with what already trains the bot, and a stable, diff-friendly export."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from itertools import groupby, pairwise
from pathlib import Path
from typing import Any

import yaml

from channels.handoff.examples import TrainingExample, normalize

EXPORT_FILE = Path("data") / "nlu" / "agent_examples.yml"
_ANNOTATION = re.compile(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """The text on one line, without control characters (YAML cannot carry them plainly)."""
    return " ".join(_CONTROL.sub(" ", text).split())


def plain_text(annotated: str) -> str:
    """An example line without its entity annotations: `[Berlin](city)` -> `Berlin`."""
    return _ANNOTATION.sub(lambda match: match.group(1), annotated)


def existing_examples(data_dir: Path, skip: Path | None = EXPORT_FILE) -> dict[str, str]:
    """Normalized text -> intent of every example already in the NLU data
    (except the agents' own export, which would only ever agree with itself)."""
    found: dict[str, str] = {}
    if not data_dir.exists():
        return found
    for path in sorted(data_dir.rglob("*.yml")):
        if skip is not None and path.resolve() == skip.resolve():
            continue
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue
        for block in document.get("nlu") or [] if isinstance(document, dict) else []:
            if not isinstance(block, dict) or "intent" not in block:
                continue
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.setdefault(normalize(plain_text(line[2:])), str(block["intent"]))
    return found


def with_conflicts(examples: list[TrainingExample], existing: dict[str, str]) -> list[TrainingExample]:
    """Flags each example whose text trains another intent, in the data or among
    the other (not rejected) examples."""
    intents_by_text: dict[str, set[str]] = defaultdict(set)
    for example in examples:
        if example.status != "rejected":
            intents_by_text[normalize(example.text)].add(example.intent)
    flagged = []
    for example in examples:
        text = normalize(example.text)
        conflict = None
        if text in existing and existing[text] != example.intent:
            conflict = {"intent": existing[text], "source": "data"}
        else:
            others = sorted(intents_by_text[text] - {example.intent})
            if others and example.status != "rejected":
                conflict = {"intent": others[0], "source": "examples"}
        flagged.append(replace(example, conflict=conflict))
    return flagged


def exportable(examples: Iterable[TrainingExample]) -> list[TrainingExample]:
    """What goes into training: accepted, no conflict, an intent the domain knows."""
    return [e for e in examples if e.status == "accepted" and e.conflict is None and not e.proposed_intent]


def annotated(example: TrainingExample) -> str:
    """The example's text with its entities in Rasa's `[value](entity)` form."""
    text = one_line(example.text)
    if one_line(example.text) != example.text:
        return text  # entity offsets refer to the original spacing
    for entity in sorted(example.entities, key=lambda e: int(e["start"]), reverse=True):
        start, end = int(entity["start"]), int(entity["end"])
        text = f"{text[:start]}[{text[start:end]}]({entity['entity']}){text[end:]}"
    return text


def to_nlu_yaml(examples: Iterable[TrainingExample]) -> str:
    """Stable, diff-friendly NLU data: intents and texts sorted, one per line."""
    ordered = sorted({(e.intent, annotated(e)) for e in examples})
    lines = ['version: "3.1"', "", "nlu:"]
    if not ordered:
        lines[-1] = "nlu: []"
    for intent, group in groupby(ordered, key=lambda pair: pair[0]):
        lines.append(f"  - intent: {json.dumps(intent)}")
        lines.append("    examples: |")
        lines.extend(f"      - {text}" for _, text in group)
    return "\n".join(lines) + "\n"


def validate_entities(text: str, entities: Any) -> tuple[dict[str, Any], ...]:
    """Entities as [{start, end, entity}] spans inside `text`; ValueError otherwise."""
    if entities is None:
        return ()
    if not isinstance(entities, list) or len(entities) > 20:
        raise ValueError("'entities' must be a list of at most 20 {start, end, entity} objects")
    spans: list[dict[str, Any]] = []
    for item in entities:
        if not isinstance(item, dict) or set(item) - {"start", "end", "entity", "value"}:
            raise ValueError("each entity is {start, end, entity}")
        start, end, name = item.get("start"), item.get("end"), item.get("entity")
        if isinstance(start, bool) or isinstance(end, bool):  # JSON true/false are Python ints
            raise ValueError("entity offsets are whole numbers, not true or false")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise ValueError("entity offsets must lie inside the text, start before end")
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9_]{1,64}$", name):
            raise ValueError("entity names match ^[A-Za-z0-9_]{1,64}$")
        spans.append({"start": start, "end": end, "entity": name, "value": text[start:end]})
    spans.sort(key=lambda s: int(s["start"]))
    if any(int(a["end"]) > int(b["start"]) for a, b in pairwise(spans)):
        raise ValueError("entities must not overlap")
    return tuple(spans)

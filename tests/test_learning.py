"""The bot learns from its agents, on real models: phrasings that fail today are
labelled through the API, exported with the CLI, validated and trained on; the
retrained model handles them, and held-out paraphrases improve too.

Figures go to tests/artifacts/learning.json; UPDATE_DOCS=1 also rewrites
docs/learning.md from them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.channel_server import ChannelServer, agent_token
from tests.redis_server import RedisServer
from tests.stack import BIN, ROOT, model_path

pytestmark = pytest.mark.e2e

THRESHOLD = 0.7  # the FallbackClassifier's, in config.yml
PHRASES = yaml.safe_load((ROOT / "tests" / "learning_phrases.yml").read_text())
CACHE = Path(os.environ.get("HANDOFF_CACHE", Path.home() / ".cache" / "rasa-handoff")) / "learning"


def handled(readings: dict[str, dict[str, Any]], expected: dict[str, list[str]]) -> list[str]:
    """Texts read as their intent with at least the fallback threshold."""
    return [
        text
        for intent, texts in expected.items()
        for text in texts
        if readings[text]["intent"] == intent and readings[text]["confidence"] >= THRESHOLD
    ]


def scores(model: Path, texts: list[str], workdir: Path) -> dict[str, dict[str, Any]]:
    listing = workdir / f"texts-{model.stem}.txt"
    listing.write_text("\n".join(texts) + "\n")
    answer = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "nlu_scores.py"), str(model), str(listing)],
        cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    readings: dict[str, dict[str, Any]] = json.loads(answer.stdout.strip().splitlines()[-1])
    return readings


def run(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def train_nlu(project: Path) -> Path:
    """An NLU model of `project`'s config and data, cached by their content."""
    digest = hashlib.sha256()
    for path in [project / "config.yml", *sorted((project / "data").rglob("*.yml"))]:
        digest.update(path.read_bytes())
    model = CACHE / f"nlu-{digest.hexdigest()[:16]}.tar.gz"
    if not model.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        out = project / "models"
        run([str(BIN / "rasa"), "train", "nlu", "--config", "config.yml", "--nlu", "data", "--out", str(out),
             "--fixed-model-name", "after", "--quiet"], project)  # fmt: skip
        shutil.move(str(out / "after.tar.gz"), model)
    return model


def write_report(figures: dict[str, Any]) -> None:
    labelled, held_out = figures["labelled"], figures["held_out"]
    lines = [
        "# The bot learns from its agents",
        "",
        "Measured by `tests/test_learning.py` (part of `make test`); regenerate this page with",
        "`UPDATE_DOCS=1 .venv/bin/pytest tests/test_learning.py`.",
        "",
        "Customer phrasings the shop assistant did not handle were labelled by an agent through",
        "the API (`POST .../training-examples`), exported with",
        "`python -m channels.handoff export-training`, validated with `rasa data validate` and trained",
        "on with `rasa train nlu`. A phrase counts as handled when the model reads it as the right",
        f"intent with a confidence of at least {THRESHOLD} (below that, `FallbackClassifier` hands",
        "the customer to a human). Held-out paraphrases were never labelled or trained on.",
        "",
        "| | before | after |",
        "|---|---|---|",
        f"| labelled phrases handled | {labelled['before']}/{labelled['total']} | "
        f"{labelled['after']}/{labelled['total']} |",
        f"| held-out paraphrases handled | {held_out['before']}/{held_out['total']} | "
        f"{held_out['after']}/{held_out['total']} |",
        "",
        "| phrase | set | intent | before | after |",
        "|---|---|---|---|---|",
    ]
    for row in figures["rows"]:
        lines.append(
            f"| {row['text']} | {row['set']} | {row['intent']} | {row['before']['intent']} "
            f"{row['before']['confidence']:.2f} | {row['after']['intent']} {row['after']['confidence']:.2f} |"
        )
    lines += ["", "The phrases are in `tests/learning_phrases.yml`.", ""]
    (ROOT / "docs" / "learning.md").write_text("\n".join(lines))


async def test_labelled_examples_teach_the_bot(
    channel: ChannelServer, redis_server: RedisServer, tmp_path: Path
) -> None:
    labelled: dict[str, list[str]] = PHRASES["labelled"]
    held_out: dict[str, list[str]] = PHRASES["held_out"]
    texts = [t for group in (labelled, held_out) for ts in group.values() for t in ts]
    before = scores(model_path(), texts, tmp_path)
    assert handled(before, labelled) == [], "these phrasings should fail with today's model"

    # An agent labels them during handoffs.
    alice = agent_token("alice")
    await channel.hand_over("learner")
    for intent, phrases in labelled.items():
        for text in phrases:
            status, body = await channel.request(
                "POST", "/agent/conversations/learner/training-examples", {"text": text, "intent": intent}, alice
            )
            assert status == 201, body

    # A trainer exports them next to the bot's data, validates, and retrains.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "data", project / "data")
    export = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "channels.handoff", "export-training", "--out",
        str(project / "data" / "nlu" / "agent_examples.yml"), "--redis-url", redis_server.url, cwd=str(ROOT),
    )  # fmt: skip
    assert await export.wait() == 0
    exported = yaml.safe_load((project / "data" / "nlu" / "agent_examples.yml").read_text())
    assert sum(len(block["examples"].splitlines()) for block in exported["nlu"]) == 11
    run([str(BIN / "rasa"), "data", "validate", "--fail-on-warnings", "--quiet"], project)
    after = scores(train_nlu(project), texts, tmp_path)

    def counts(group: dict[str, list[str]]) -> dict[str, int]:
        total = sum(len(ts) for ts in group.values())
        return {"total": total, "before": len(handled(before, group)), "after": len(handled(after, group))}

    figures: dict[str, Any] = {
        "labelled": counts(labelled),
        "held_out": counts(held_out),
        "rows": [
            {"text": t, "set": name, "intent": intent, "before": before[t], "after": after[t]}
            for name, group in (("labelled", labelled), ("held out", held_out))
            for intent, ts in group.items()
            for t in ts
        ],
    }
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "learning.json").write_text(json.dumps(figures, indent=2))
    if os.environ.get("UPDATE_DOCS") == "1":
        write_report(figures)
    assert figures["labelled"]["after"] >= 10, figures["labelled"]
    assert figures["held_out"]["after"] > figures["held_out"]["before"], figures["held_out"]

"""The "Bad input" section of docs/reliability.md, from the figures scripts/fuzz.sh
writes to tests/artifacts/fuzz.json. Standard library only: the fuzz runner (in
schemathesis' own venv) and tests/test_reliability.py both use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "tests" / "artifacts" / "fuzz.json"
RELIABILITY = ROOT / "docs" / "reliability.md"
HEADING = "## Bad input"


def bad_input_section(figures: dict[str, Any] | None = None) -> list[str]:
    """The section's lines (ending with an empty one). Without figures (the fuzz step
    runs after pytest in `make test`), the section already in the doc is kept."""
    if figures is None and FIGURES.exists():
        figures = json.loads(FIGURES.read_text())
    if not figures:
        _, found, kept = RELIABILITY.read_text().partition(HEADING)
        if found:
            return [HEADING + kept.rstrip("\n"), ""]
        return [HEADING, "Not measured yet: run `scripts/fuzz.sh`.", ""]
    f = figures
    statuses = ", ".join(f"{status}: {n}" for status, n in f.get("statuses", {}).items())
    return [
        HEADING,
        f"`scripts/fuzz.sh` (part of `make test`) fuzzes every operation of `docs/openapi.yaml` with {f['tool']}",
        "against the channel on a real Sanic server and Redis (stub bot, conversations seeded in every state; the",
        "per-agent rate limit off so that fuzzing is not cut short by 429s, the per-customer one on):",
        f"{f['requests']} generated requests over {f['operations']} operations in {f['seconds']} s (seed {f['seed']}),",
        "well-formed and malformed: bodies, path ids, query strings and Authorization headers.",
        f"{f['failures']} failures of the checks `not_a_server_error`, `response_schema_conformance` and",
        f"`status_code_conformance`; {f['server_errors']} answers 5xx. Answers by status: {statuses}",
        "(405: schemathesis trying methods a path does not have).",
        "",
    ]


def update_reliability_doc(figures: dict[str, Any]) -> None:
    """Replaces (or appends) the section, the last of docs/reliability.md."""
    head = RELIABILITY.read_text().partition(HEADING)[0].rstrip("\n")
    RELIABILITY.write_text(head + "\n\n" + "\n".join(bad_input_section(figures)))

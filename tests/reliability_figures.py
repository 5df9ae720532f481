"""Figures the reliability, authorization and limits suites measure, kept in
tests/artifacts/reliability.json for docs/reliability.md (UPDATE_DOCS=1)."""

from __future__ import annotations

import json
from typing import Any

from tests.stack import ROOT

FIGURES_FILE = ROOT / "tests" / "artifacts" / "reliability.json"


def recorded() -> dict[str, Any]:
    try:
        found: dict[str, Any] = json.loads(FIGURES_FILE.read_text())
        return found
    except (OSError, ValueError):
        return {}


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Adds (or replaces) one test's figures in the file."""
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps({**recorded(), name: figures}, indent=2))

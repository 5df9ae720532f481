"""Runs schemathesis over docs/openapi.yaml against a running fuzz server
(tests/fuzz_server.py) and writes the figures: requests sent, answers by status,
failures. Run by scripts/fuzz.sh in the schemathesis venv (Python 3.11), not in
Rasa's; it imports nothing of the project but tests/fuzz_report.py (stdlib only).

Settings are in scripts/fuzz.toml (seed, time bound, checks, auth). The hooks
here make some generated requests name the seeded conversations, canned response,
training example and customer, so that requests reach the code behind the 404s
and behind the customer token check, not just the validation in front of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.cli import schemathesis as cli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fuzz_report import update_reliability_doc  # noqa: E402

SPEC = ROOT / "docs" / "openapi.yaml"
CONFIG = ROOT / "scripts" / "fuzz.toml"
MIN_REQUESTS = 1000

SEEDED: dict[str, Any] = {}
STATUSES: Counter[int] = Counter()
OPERATIONS: Counter[str] = Counter()
BY_OPERATION: dict[str, Counter[int]] = {}


def sometimes_seeded(strategy: Any, name: str, kind: str) -> Any:
    """Values as generated, or (first, so more often) with `name` set to a known id
    of `kind`; the known ids are read at each draw, as they grow during the run."""

    def pick(drawn: tuple[Any, int]) -> Any:
        value, index = drawn
        known = SEEDED.get(kind) or []
        if not isinstance(value, dict) or name not in value or not known:
            return value
        return {**value, name: known[index % len(known)]}

    return st.one_of(st.tuples(strategy, st.integers(min_value=0, max_value=2**16)).map(pick), strategy)


@schemathesis.hook
def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
    path = context.operation.path if context.operation else ""
    if "{conversation_id}" in path:
        return sometimes_seeded(strategy, "conversation_id", "conversation_ids")
    if "{response_id}" in path:
        return sometimes_seeded(strategy, "response_id", "canned_response_ids")
    if "{example_id}" in path:
        return sometimes_seeded(strategy, "example_id", "example_ids")
    return strategy


@schemathesis.hook
def before_generate_body(context: Any, strategy: Any) -> Any:
    if context.operation is not None and context.operation.path == "/webhook":
        return sometimes_seeded(strategy, "sender", "customers")
    return strategy


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    STATUSES[int(response.status_code)] += 1
    operation = f"{case.operation.method.upper()} {case.operation.path}"
    OPERATIONS[operation] += 1
    BY_OPERATION.setdefault(operation, Counter())[int(response.status_code)] += 1
    if response.status_code in (200, 201):
        learn(case.operation.path, response)


def learn(path: str, response: Any) -> None:
    """Ids the API hands out join the seeded ones (an edited example gets a new id)."""
    try:
        answer = response.json()
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    found = {
        "conversation_ids": answer.get("sender") if path == "/webhook" else None,
        "canned_response_ids": (answer.get("canned_response") or {}).get("id"),
        "example_ids": (answer.get("example") or {}).get("id"),
    }
    for kind, value in found.items():
        known = SEEDED.setdefault(kind, [])
        if isinstance(value, str) and value not in known:
            known.append(value)


def failures_in(report: Path) -> int:
    """Failed checks in schemathesis' JUnit report."""
    if not report.exists():
        return -1
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(report).getroot()
    return sum(len(case.findall("failure")) + len(case.findall("error")) for case in root.iter("testcase"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", type=Path, required=True, help="the fuzz server's ready file")
    parser.add_argument("--out", type=Path, required=True, help="where the figures go (JSON)")
    parser.add_argument("--spec", type=Path, default=SPEC, help="the OpenAPI description")
    parser.add_argument("--max-examples", type=int, default=60, help="generated cases per operation and phase")
    args = parser.parse_args()

    SEEDED.update(json.loads(args.server.read_text()))
    SEEDED["customers"] = [SEEDED["customer"]]
    os.environ["FUZZ_AGENT_TOKEN"] = SEEDED["agent_token"]
    os.environ["FUZZ_CUSTOMER_TOKEN"] = SEEDED["customer_token"]
    junit = args.out.with_name("fuzz-junit.xml")
    junit.unlink(missing_ok=True)
    command = [
        "--config-file",
        str(CONFIG),
        "run",
        str(args.spec),
        "--url",
        SEEDED["base_url"],
        "--max-examples",
        str(args.max_examples),
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        "--no-color",
    ]
    started = time.monotonic()
    try:
        cli.main(args=command, prog_name="st", standalone_mode=False)
        exit_code = 0
    except SystemExit as done:
        exit_code = int(done.code or 0)
    seconds = round(time.monotonic() - started, 1)
    config = CONFIG.read_text()
    requests = sum(STATUSES.values())
    failures = failures_in(junit)
    figures = {
        "tool": f"schemathesis {schemathesis.__version__}",
        "requests": requests,
        "operations": len(OPERATIONS),
        "seconds": seconds,
        "failures": failures,
        "server_errors": sum(n for status, n in STATUSES.items() if status >= 500),
        "statuses": {str(status): STATUSES[status] for status in sorted(STATUSES)},
        "checks": ["not_a_server_error", "response_schema_conformance", "status_code_conformance"],
        "seed": int(config.split("seed = ", 1)[1].split()[0]),
        "max_examples": args.max_examples,
        "agent_rate_limit": SEEDED.get("agent_rate_limit"),
        "exit_code": exit_code,
        "by_operation": {
            operation: {str(status): n for status, n in sorted(counts.items())}
            for operation, counts in sorted(BY_OPERATION.items())
        },
    }
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"fuzz: {requests} requests generated over {len(OPERATIONS)} operations in {seconds} s; "
        f"{failures} failures; answers by status: {figures['statuses']}"
    )
    if os.environ.get("UPDATE_DOCS") == "1":
        update_reliability_doc(figures)
    if requests < MIN_REQUESTS:
        print(f"fuzz: fewer than {MIN_REQUESTS} requests", file=sys.stderr)
        return 1
    return 0 if exit_code == 0 and failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

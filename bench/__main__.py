"""`make bench`: start the real system, measure the five targets, print a table,
write docs/benchmarks.md and docs/images/latency.png.

    .venv/bin/python -m bench                 # everything (what `make bench` runs)
    .venv/bin/python -m bench --only claims   # some phases, for working on one
    .venv/bin/python -m bench --report-only   # re-render the last run's results
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import sys
import time
from typing import Any

import uvloop

from bench import botpath, claims, humanpath, machine, profile, startup, trackerstore, waiting
from bench.procs import describe, rss_bytes
from bench.system import ROOT, BenchStack

PHASES = ("bot", "tracker", "human", "claims", "waiting", "profile", "startup")
SAVED = ROOT / ".handoff" / "bench-results.pickle"
_began = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _began:6.1f} s] {message}", flush=True)


async def run_phases(stack: BenchStack, phases: set[str], results: dict[str, Any]) -> None:
    if "bot" in phases:
        log("1. bot path: REST channel vs handoff channel, interleaved rounds")
        results["bot"] = await botpath.measure(stack, log=log)
    if "tracker" in phases:
        log("1. the tracker store: Rasa's against the handoff's, in one Rasa agent")
        results["tracker"] = await trackerstore.measure(stack, log=log)
    if "human" in phases:
        log("2. human path: 200 conversations assigned at once, all on one process (as `make run`)")
        single = results["human_single"] = await humanpath.measure(stack, log=log, profile_exchanges=1, prefix="one")
        if single.profile is not None:
            results["profile_human"] = profile.analyse(
                "human path, 200 conversations", single.profile, single.profile_s
            )
    if "claims" in phases:
        log("3. claims: 100 agents racing on one process, beside a bare Sanic endpoint")
        results["claims_one"] = await claims.measure(stack, log=log, prefix="one")
    if phases & {"human", "claims"}:
        log(f"a second Rasa process (HANDOFF_RECORDER=off) joins, on port {stack.start_desk().port}")
        try:
            if "human" in phases:
                log("2. human path again: on the desk process, which leaves the tracker recording to the other")
                results["human"] = await humanpath.measure(stack, log=log, prefix="desk", server=stack.desk)
            if "claims" in phases:
                log("3. claims again: the 100 agents spread over the two processes, beside two bare Sanic ones")
                servers = [stack.server, stack.desk]
                results["claims"] = await claims.measure(stack, log=log, prefix="two", servers=servers)
        finally:
            stack.stop_desk()
    if "waiting" in phases:
        log("4. waiting at scale")
        results["waiting"] = await waiting.measure(stack, log=log)
    if "profile" in phases:
        log("profile: sampling the Rasa server's main thread")
        results["profile"] = await profile.measure(stack, log=log)
    results["stack_rss"] = [(f"{name}: {describe(pid)}", rss_bytes(pid)) for name, pid in stack.pids().items()]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases of {', '.join(PHASES)}")
    parser.add_argument("--report-only", action="store_true", help="render the saved results of the last run")
    parser.add_argument("--no-docs", action="store_true", help="print the table; do not write docs/")
    args = parser.parse_args()
    from bench import report  # matplotlib only where needed

    if args.report_only:
        results: dict[str, Any] = pickle.loads(SAVED.read_bytes())
    else:
        phases = {p.strip() for p in args.only.split(",") if p.strip()}
        unknown = phases - set(PHASES)
        if unknown:
            parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
        results = {
            "facts": machine.facts(),
            "command": "make bench",
            "phases": sorted(phases),
            "started": time.strftime("%Y-%m-%d %H:%M %Z"),
            "revision": machine.revision(),
        }
        if args.only != ",".join(PHASES):
            results["command"] = f".venv/bin/python -m bench --only {args.only}"
        uvloop.install()
        if phases - {"startup"}:
            log("starting Redis, the action server and Rasa (tests/stack.py)")
            stack = BenchStack()
            stack.start()
            log(f"ready: Rasa on port {stack.server.port}")
            try:
                asyncio.run(run_phases(stack, phases, results))
            finally:
                stack.stop()
        if "startup" in phases:
            log("5. start: make run on the built tree")
            results["startup"] = startup.measure(log=log)
        results["elapsed_s"] = time.monotonic() - _began
        load = os.getloadavg()
        results["load_at_end"] = f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}"
        SAVED.parent.mkdir(parents=True, exist_ok=True)
        SAVED.write_bytes(pickle.dumps(results))
    print(report.console(results))
    if not args.no_docs:
        written = report.write(results)
        log("wrote " + ", ".join(str(p.relative_to(ROOT)) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())

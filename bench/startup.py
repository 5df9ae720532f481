"""Target 5: `make run` on a built tree (venv and model cached) until it is
ready, and the memory of each process it started. Runs in a process group of
its own, stopped with SIGINT like Ctrl-C; only that group is signalled."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import descendants, describe, rss_bytes
from bench.system import ROOT
from tests.redis_server import free_port


@dataclass
class StartupResult:
    health_s: float = float("nan")
    ready_s: float = float("nan")
    processes: list[tuple[str, int]] = field(default_factory=list)
    stopped_s: float = float("nan")
    skipped: str | None = None

    @property
    def total_rss(self) -> int:
        return sum(rss for _, rss in self.processes)


def another_run_active() -> bool:
    """True when a `make run` of this checkout seems to be running (its Redis answers)."""
    marker = ROOT / ".handoff" / "run" / "redis-url"
    if not marker.exists():
        return False
    url = marker.read_text().strip()
    try:
        host_port = url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except (OSError, ValueError, IndexError):
        return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def measure(timeout_s: float = 300, log: Callable[[str], None] = print) -> StartupResult:
    result = StartupResult()
    if another_run_active():
        result.skipped = "another `make run` of this checkout was running (it owns .handoff/run)"
        return result
    port, action_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update({"PORT": str(port), "ACTION_PORT": str(action_port)})
    output = Path(tempfile.mkstemp(prefix="bench-make-run-", suffix=".log")[1])
    health = f"http://127.0.0.1:{port}/webhooks/handoff/"
    log(f"  make run (PORT={port}, ACTION_PORT={action_port})")
    with output.open("wb") as out:
        began = time.perf_counter()
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    group = make.pid
    try:
        while time.perf_counter() - began < timeout_s:
            if make.poll() is not None:
                raise RuntimeError(f"make run exited early:\n{output.read_text()[-3000:]}")
            if math.isnan(result.health_s) and _healthy(health):
                result.health_s = time.perf_counter() - began
            if "Ready." in output.read_text(errors="replace"):
                result.ready_s = time.perf_counter() - began
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"make run not ready after {timeout_s} s:\n{output.read_text()[-3000:]}")
        if math.isnan(result.health_s):
            result.health_s = result.ready_s
        time.sleep(1.0)
        started = descendants(make.pid)
        result.processes = [(describe(pid), rss_bytes(pid)) for pid in [make.pid, *started]]
    finally:
        stop_began = time.perf_counter()
        os.killpg(group, signal.SIGINT)
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            make.wait()
        result.stopped_s = time.perf_counter() - stop_began
        # Anything of the group still alive (it should not be) is ended too.
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            pass
        else:
            time.sleep(2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        output.unlink(missing_ok=True)
    return result

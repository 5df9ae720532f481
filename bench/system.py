"""The real system for the bench: tests/stack.py's Stack with one Rasa server,
started through `bench.rasa_sampled` so the profile phase can sample it. For the
human path's second layout a desk process joins it (`HANDOFF_RECORDER=off`: it
leaves the tracker recording to the first), only for that measurement: every
other phase measures one process alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.redis_server import free_port
from tests.stack import ROOT, RasaProcess, Stack, model_path

DESK = 1  # index of the Rasa process started with HANDOFF_RECORDER=off


@dataclass
class BenchStack(Stack):
    """Redis, the action server and one `rasa run` (bench/credentials.yml enables
    both the handoff channel and Rasa's own REST channel on it)."""

    rasa_count: int = 1
    profile_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="handoff-bench-profile-")))

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "BENCH_PROFILE_DIR": str(self.profile_dir)}

    def start_rasa(self, index: int) -> RasaProcess:
        port = free_port()
        args = [
            sys.executable, "-m", "bench.rasa_sampled", "run", "--model", str(model_path()), "--port", str(port),
            "--credentials", "bench/credentials.yml", "--endpoints", "endpoints.yml", "--enable-api",
        ]  # fmt: skip
        extra_env = {"HANDOFF_RECORDER": "off"} if index == DESK else {}
        process, log = self._spawn(args, f"bench-rasa-{index}.log", extra_env)
        rasa = RasaProcess(port, process, log)
        self.rasa[index : index + 1] = [rasa]
        return rasa

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.profile_dir, ignore_errors=True)

    @property
    def server(self) -> RasaProcess:
        return self.rasa[0]

    @property
    def desk(self) -> RasaProcess:
        """The process that serves agents and customers without recording in trackers."""
        return self.rasa[DESK]

    def start_desk(self) -> RasaProcess:
        self.start_rasa(DESK)
        return self.wait_for_rasa(DESK)

    def stop_desk(self) -> None:
        desk = self.rasa.pop(DESK)
        if desk.process.poll() is None:
            os.killpg(desk.process.pid, signal.SIGTERM)
            desk.process.wait(timeout=60)

    def pids(self) -> dict[str, int]:
        """The processes worth metering: Rasa, the action server and Redis."""
        found = {"rasa": self.server.process.pid, "bench client": os.getpid()}
        if len(self.rasa) > DESK:
            found["desk rasa"] = self.desk.process.pid
        if self.redis.process is not None:
            found["redis"] = self.redis.process.pid
        actions = next((p for p in self.processes if "actions" in str(p.args)), None)
        if actions is not None:
            found["action server"] = actions.pid
        return found

    def start_stage_clock(self, timeout_s: float = 20) -> None:
        """Starts the Rasa server's stage clock (bench/stageclock.py); until then, and once
        `stage_records` stops it, requests are not wrapped."""
        self._written_on(signal.SIGHUP, "stages.json", "stage clock start", timeout_s)

    def stage_records(self, timeout_s: float = 20) -> list[Any]:
        """Stops the Rasa server's stage clock: its records since it started."""
        records: list[Any] = self._written_on(signal.SIGWINCH, "stages.json", "stage records", timeout_s)
        return records

    def start_profile(self) -> None:
        os.kill(self.server.process.pid, signal.SIGUSR1)

    def stop_profile(self, timeout_s: float = 20) -> dict[str, Any]:
        data: dict[str, Any] = self._written_on(signal.SIGUSR2, "profile.json", "profile", timeout_s)
        return data

    def _written_on(self, sent: signal.Signals, name: str, what: str, timeout_s: float) -> Any:
        """Sends the Rasa server `sent` and reads the JSON it writes to `name` in answer."""
        path = self.profile_dir / name
        path.unlink(missing_ok=True)
        os.kill(self.server.process.pid, sent)
        deadline = time.monotonic() + timeout_s
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Rasa server wrote no {what}")
            time.sleep(0.05)
        return json.loads(path.read_text())


__all__ = ["ROOT", "BenchStack"]

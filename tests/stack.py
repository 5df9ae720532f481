"""The real system for end-to-end tests: a private Redis, the action server and
Rasa servers (`rasa run`) with the handoff channel, started once per session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.channel_server import SECRET
from tests.redis_server import RedisServer, free_port

SHOP_ORIGIN = "https://shop.example"  # the site a chat widget would live on (`rasa run --cors`)
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LOGS = ROOT / "tests" / "artifacts" / "logs"


def response_text(name: str) -> str:
    """A response's text from domain.yml, as the bot sends it."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    return str(domain["responses"][name][0]["text"])


def model_path() -> Path:
    configured = os.environ.get("HANDOFF_MODEL")
    path = Path(configured) if configured else ROOT / "models" / "current.tar.gz"
    if not path.exists():
        raise RuntimeError(f"no trained model at {path}: run scripts/ensure-model.sh (make test does)")
    return path


def wait_for_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited; log:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout_s} s; log:\n{log.read_text()[-4000:]}")


@dataclass
class RasaProcess:
    """One `rasa run` with the handoff channel."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def handoff(self) -> str:
        return f"{self.base}/webhooks/handoff"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/webhooks/handoff"


@dataclass
class Stack:
    """Redis, the action server and `rasa_count` Rasa servers on that Redis."""

    rasa_count: int = 2
    redis: RedisServer = field(default_factory=lambda: RedisServer(appendonly=True))
    action_port: int = field(default_factory=free_port)
    rasa: list[RasaProcess] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "HANDOFF_JWT_SECRET": SECRET,
            "HANDOFF_REDIS_URL": self.redis.url,
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(self.redis.port),
            "REDIS_DB": "0",
            "REDIS_PASSWORD": "",
            "ACTION_PORT": str(self.action_port),
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }

    def _spawn(
        self, args: list[str], log_name: str, extra_env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = LOGS / log_name
        with log.open("wb") as out:
            process = subprocess.Popen(
                args,
                cwd=ROOT,
                env={**self.environment(), **(extra_env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process, log

    def start(self) -> None:
        self.redis.start()
        actions, actions_log = self._spawn(
            [str(BIN / "rasa"), "run", "actions", "--port", str(self.action_port), "--actions", "actions"],
            "actions.log",
        )
        for index in range(self.rasa_count):
            self.start_rasa(index)
        wait_for_http(f"http://127.0.0.1:{self.action_port}/health", actions, actions_log)
        for index in range(self.rasa_count):
            self.wait_for_rasa(index)

    def wait_for_rasa(self, index: int, attempts: int = 3) -> RasaProcess:
        """Waits until Rasa `index` serves; starts it again on another port if
        its free port was taken meanwhile (other processes pick ports too)."""
        for _ in range(attempts):
            rasa = self.rasa[index]
            try:
                wait_for_http(f"{rasa.handoff}/", rasa.process, rasa.log)
                return rasa
            except RuntimeError:
                if "address already in use" not in rasa.log.read_text():
                    raise
                self.start_rasa(index)
        raise RuntimeError(f"Rasa {index} found no free port in {attempts} attempts")

    def start_rasa(self, index: int) -> RasaProcess:
        port = free_port()
        args = [
            str(BIN / "rasa"), "run", "--model", str(model_path()), "--port", str(port),
            "--credentials", "credentials.yml", "--endpoints", "endpoints.yml", "--enable-api",
            "--cors", SHOP_ORIGIN,
        ]  # fmt: skip
        process, log = self._spawn(args, f"rasa-{index}.log")
        rasa = RasaProcess(port, process, log)
        if index < len(self.rasa):
            self.rasa[index] = rasa
        else:
            self.rasa.append(rasa)
        return rasa

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.redis.close()

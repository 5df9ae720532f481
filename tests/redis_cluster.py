"""A private three-node Redis Cluster for tests, on loopback and free ports:
three `redis-server --cluster-enabled yes` primaries (no replicas), joined by
`redis-cli --cluster create`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.redis_server import free_port, redis_server_binary


def redis_cli_binary() -> str:
    found = shutil.which("redis-cli")
    if found is None:
        raise RuntimeError("redis-cli is not installed: run scripts/ensure-redis.sh")
    return found


def _command(port: int, *words: str) -> bytes:
    """Sends one inline command to a node and returns its raw answer (a status
    line, an error line or a whole bulk string)."""
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
        sock.sendall((" ".join(words) + "\r\n").encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk
        header, _, rest = answer.partition(b"\r\n")
        if not header.startswith(b"$"):
            return answer
        size = int(header[1:])
        while len(rest) < size + 2:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return rest[:size]


def _can_bind(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_port(taken: list[int]) -> int:
    """A free port whose cluster bus port (+10000) is free too (so at most 55535)."""
    for _ in range(1000):
        port = free_port()
        if port <= 55535 and port not in taken and port + 10000 not in taken and _can_bind(port + 10000):
            return port
    raise RuntimeError("no free port pair (port, port + 10000) for a cluster node")


class RedisCluster:
    """Three cluster-enabled redis-server processes, each with its own port and directory."""

    def __init__(self, nodes: int = 3) -> None:
        self.ports: list[int] = []
        for _ in range(nodes):
            self.ports.append(free_cluster_port([*self.ports, *(p + 10000 for p in self.ports)]))
        self.directories = [Path(tempfile.mkdtemp(prefix=f"handoff-cluster-{port}-")) for port in self.ports]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A startup node for `RedisCluster.from_url` (it discovers the others)."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    def start(self) -> None:
        try:
            for port, directory in zip(self.ports, self.directories, strict=True):
                self.processes.append(self._start_node(port, directory))
            for port, directory, process in zip(self.ports, self.directories, self.processes, strict=True):
                self._wait_for_pong(port, directory, process)
            created = subprocess.run(
                [
                    redis_cli_binary(),
                    "--cluster",
                    "create",
                    *self.addresses,
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                capture_output=True,
                timeout=60,
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout!r} {created.stderr!r}")
            self._wait_for_state_ok()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _start_node(port: int, directory: Path) -> subprocess.Popen[bytes]:
        args = [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(directory / f"nodes-{port}.conf"),
            "--cluster-node-timeout",
            "5000",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(directory / "redis.log"),
        ]
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def _wait_for_pong(port: int, directory: Path, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if _command(port, "PING").startswith(b"+PONG"):
                    return
            except OSError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(directory / 'redis.log').read_text()}")
            time.sleep(0.05)
        raise RuntimeError(f"cluster node {port} did not start in 10 s")

    def _wait_for_state_ok(self) -> None:
        """Every node must say cluster_state:ok (the slots' owners agreed everywhere)."""
        deadline = time.monotonic() + 30
        waiting = set(self.ports)
        while time.monotonic() < deadline:
            for port in sorted(waiting):
                try:
                    if b"cluster_state:ok" in _command(port, "CLUSTER", "INFO"):
                        waiting.discard(port)
                except OSError:
                    pass
            if not waiting:
                return
            time.sleep(0.1)
        raise RuntimeError(f"cluster nodes {sorted(waiting)} are not cluster_state:ok after 30 s")

    def close(self) -> None:
        """Stops the nodes this helper started (by pid) and removes their directories."""
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes = []
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)

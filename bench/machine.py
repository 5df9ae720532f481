"""The machine and software the figures were measured on."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def _meminfo_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _redis_version() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        return "not installed"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"v=(\S+)", out)
    return found.group(1) if found else out.strip()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def facts() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "CPU cores (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU": _cpu_model(),
        "Memory": f"{_meminfo_gib():.1f} GiB",
        "Kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Rasa": _version("rasa"),
        "Rasa SDK": _version("rasa-sdk"),
        "Sanic": _version("sanic"),
        "TensorFlow": _version("tensorflow"),
        "redis-py": _version("redis"),
        "Redis server": _redis_version(),
        "uvloop": _version("uvloop"),
        "Load average at start (1, 5, 15 min)": f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
    }


def revision() -> str:
    """The commit measured, and whether the channel's code had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "channels", "actions", "config.yml", "domain.yml", "data")
    note = " with uncommitted changes in channels/, actions/ or the model's data" if dirty else ""
    return f"commit {commit}{note}"

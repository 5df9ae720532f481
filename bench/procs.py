"""What processes cost, read from /proc: CPU seconds, resident memory, children."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (its own, not its children's)."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def descendants(root: int) -> list[int]:
    """Every live process below `root`, parents before children."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
        parents.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in sorted(parents.get(todo.pop(0), [])):
            found.append(child)
            todo.append(child)
    return found


def describe(pid: int) -> str:
    """A short name for a process: the program and what it runs."""
    args = command_line(pid)
    if not args:
        return f"pid {pid}"
    program = Path(args[0]).name
    rest = [a for a in args[1:] if not a.startswith("-")]
    if program.startswith("python") and len(args) > 1 and args[1].endswith("/rasa"):
        return "rasa " + " ".join(a for a in args[2:4] if not a.startswith("-"))
    if program.startswith("python") and len(args) > 2 and args[1] == "-m":
        return f"python -m {args[2]}" + (f" {args[3]}" if len(args) > 3 and not args[3].startswith("-") else "")
    if program == "rasa":
        return "rasa " + " ".join(rest[:2])
    if program in ("bash", "sh") and rest:
        return f"{program} {Path(rest[0]).name}"
    if program == "redis-server":
        return "redis-server"
    return " ".join([program, *rest[:1]])


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine used so far (every core, /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


OTHERS = "other work on the machine"


@dataclass
class CpuMeter:
    """CPU seconds each named process used between `start` and `stop`, and what
    everything else on the machine used meanwhile (`OTHERS`)."""

    pids: dict[str, int]

    def __post_init__(self) -> None:
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        now[OTHERS] = machine_busy_seconds() - sum(now.values())
        return now

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        self.used = {name: end[name] - self._start.get(name, 0.0) for name in end}
        return self.used

"""A small statistical profiler for a running server (no dependency).

A thread looks at the main thread's Python stack every `interval_s` and counts
the stacks it sees. It runs only between `start` and `stop`; `rasa_sampled`
toggles it with SIGUSR1 / SIGUSR2, so the server is measured unprofiled.
While sampling, the interpreter's switch interval is lowered so the sampler
gets the GIL close to on time (in-process samplers are biased towards points
where the main thread releases the GIL; py-spy is not, but needs ptrace)."""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

Stack = tuple[str, ...]


def frame_name(frame: FrameType) -> str:
    """`package/module.py:function`, with site-packages and stdlib prefixes cut."""
    path = frame.f_code.co_filename
    for marker in ("site-packages/", "/lib/python3.10/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        parts = path.rsplit("/", 2)
        path = "/".join(parts[-2:])
    return f"{path}:{frame.f_code.co_name}"


class Sampler:
    """Counts the main thread's stacks (root first) while running."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.counts: Counter[Stack] = Counter()
        self._target = threading.main_thread().ident
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._switch = sys.getswitchinterval()
        # Garbage collections while sampling: generation -> [count, total s, longest s].
        self.collections: dict[int, list[float]] = {}
        self._gc_began = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
            return
        took = time.perf_counter() - self._gc_began
        seen = self.collections.setdefault(info["generation"], [0, 0.0, 0.0])
        seen[0] += 1
        seen[1] += took
        seen[2] = max(seen[2], took)

    def start(self) -> None:
        if self._thread is not None:
            return
        self.counts.clear()
        self.collections.clear()
        gc.callbacks.append(self._on_gc)
        self._stop.clear()
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Counter[Stack]:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            sys.setswitchinterval(self._switch)
            gc.callbacks.remove(self._on_gc)
        return self.counts

    def _run(self) -> None:
        names: dict[object, str] = {}
        while not self._stop.wait(self.interval_s):
            frame = sys._current_frames().get(self._target)  # type: ignore[arg-type]
            stack: list[str] = []
            while frame is not None:
                code = frame.f_code
                name = names.get(code)
                if name is None:
                    name = names[code] = frame_name(frame)
                stack.append(name)
                frame = frame.f_back
            stack.reverse()
            self.counts[tuple(stack)] += 1

    def dump(self, path: Path) -> None:
        rows = [{"stack": list(stack), "count": count} for stack, count in self.counts.items()]
        collections = {str(g): {"count": c, "total_s": t, "longest_s": m} for g, (c, t, m) in self.collections.items()}
        path.write_text(json.dumps({"interval_s": self.interval_s, "samples": rows, "gc": collections}))

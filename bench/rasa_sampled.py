"""`rasa` with the bench sampler on call: SIGUSR1 starts sampling the server's
main thread, SIGUSR2 stops it and writes `$BENCH_PROFILE_DIR/profile.json`.
Until then it is the plain `rasa` command. SIGHUP starts the stage clock
(bench/stageclock.py), which notes each bot message's times; SIGWINCH stops it and
writes them to `$BENCH_PROFILE_DIR/stages.json` (SIGHUP writes there too, the records
of none, so its sender knows the clock runs)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

from bench.sampler import Sampler
from bench.stageclock import StageClock


def main() -> None:
    out = Path(os.environ.get("BENCH_PROFILE_DIR", "."))
    sampler = Sampler()

    def start(_signum: int, _frame: FrameType | None) -> None:
        sampler.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        sampler.stop()
        tmp = out / "profile.json.tmp"
        sampler.dump(tmp)
        tmp.replace(out / "profile.json")

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    clock = StageClock()

    def start_clock(_signum: int, _frame: FrameType | None) -> None:
        clock.start()
        clock.dump(out / "stages.json")

    def stop_clock(_signum: int, _frame: FrameType | None) -> None:
        clock.stop()
        clock.dump(out / "stages.json")

    signal.signal(signal.SIGHUP, start_clock)
    signal.signal(signal.SIGWINCH, stop_clock)
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()

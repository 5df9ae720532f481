"""`rasa` with the bench sampler on call: SIGUSR1 starts sampling the server's
main thread, SIGUSR2 stops it and writes `$BENCH_PROFILE_DIR/profile.json`.
Until then it is the plain `rasa` command, with the stage clock (bench/stageclock.py)
noting each bot message's times: SIGWINCH writes them to `$BENCH_PROFILE_DIR/stages.json`."""

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
    clock.install()
    signal.signal(signal.SIGWINCH, lambda _signum, _frame: clock.dump(out / "stages.json"))
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()

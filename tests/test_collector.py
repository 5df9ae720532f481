"""The collector's settling once the model is loaded (channels/handoff/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from channels.handoff.collector import PYTHON_DEFAULT_YOUNG_THRESHOLD, YOUNG_THRESHOLD, settle_collector


@pytest.fixture
def collector() -> Iterator[None]:
    """Gives the test the collector as Python starts it, and puts the test process's back."""
    before = gc.get_threshold()
    gc.set_threshold(PYTHON_DEFAULT_YOUNG_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


class Survivor:
    """A long-lived object, as the model's are."""


def test_settling_freezes_survivors_and_raises_the_young_threshold(collector: None) -> None:
    survivor = Survivor()
    middle, old = gc.get_threshold()[1:]
    assert gc.is_tracked(survivor) and any(o is survivor for o in gc.get_objects())

    assert settle_collector() == (YOUNG_THRESHOLD, middle, old)

    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() > 0
    assert not any(o is survivor for o in gc.get_objects())  # frozen: no collection scans it


def test_a_threshold_someone_chose_is_left_alone(collector: None) -> None:
    gc.set_threshold(1234, 7, 9)

    assert settle_collector() == (1234, 7, 9)
    assert gc.get_threshold() == (1234, 7, 9)

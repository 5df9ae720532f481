"""The bench's stage clock (bench/stageclock.py): how its records become the figures
that explain target 1 (a message taken up by an idle Rasa, or one that waited)."""

from __future__ import annotations

import math

from bench.stageclock import stages


def test_messages_are_told_apart_by_whether_rasa_was_busy_when_their_request_was_read() -> None:
    records = [
        # channel, request read, Rasa start, Rasa end, CPU (seconds)
        ("rest", 1.000, 1.0002, 1.020, 0.012),  # Rasa idle: 0.2 ms from request to Rasa
        ("handoff", 1.0202, 1.0207, 1.040, 0.013),  # came during the one above: read after it, in 0.7 ms
        ("rest", 1.0403, 1.0406, 1.060, 0.011),  # read 0.3 ms after Rasa freed up: it had waited
        ("handoff", 1.100, 1.1008, 1.121, 0.014),  # idle again: 0.8 ms from request to Rasa
    ]
    found = stages(records)
    rest, handoff = found["rest"], found["handoff"]
    assert (rest.messages, rest.idle_messages, rest.queued_messages) == (2, 1, 1)
    assert math.isclose(rest.idle_before_rasa_ms, 0.2, abs_tol=1e-6)
    assert math.isclose(rest.queued_gap_ms, 0.6, abs_tol=1e-6)
    assert (handoff.idle_messages, handoff.queued_messages) == (1, 1)
    assert math.isclose(handoff.idle_before_rasa_ms, 0.8, abs_tol=1e-6)
    assert math.isclose(handoff.queued_gap_ms, 0.7, abs_tol=1e-6)
    assert math.isclose(handoff.rasa_ms, 19.75, abs_tol=1e-6)  # median of 19.3 and 20.2 ms
    assert math.isclose(rest.rasa_cpu_ms, 11.5, abs_tol=1e-6)


def test_a_message_read_while_another_waited_for_the_action_server_is_neither() -> None:
    records = [
        ("rest", 1.000, 1.0001, 1.300, 0.020),  # a session's first message: out to the action server
        ("rest", 1.010, 1.0102, 1.030, 0.012),  # read and handled meanwhile: not after Rasa freed up
    ]
    rest = stages(records)["rest"]
    assert (rest.messages, rest.idle_messages, rest.queued_messages) == (2, 1, 0)
    assert math.isnan(rest.queued_gap_ms)


def test_the_clock_wraps_requests_only_while_started() -> None:
    from rasa.core.agent import Agent
    from sanic.request import Request

    from bench.stageclock import StageClock

    plain_init, plain_handle = Request.__init__, Agent.handle_message
    clock = StageClock()
    clock.start()
    try:
        wrapped_init = Request.__init__
        assert wrapped_init is not plain_init and Agent.handle_message is not plain_handle
        clock.start()  # a second start wraps nothing twice
        assert Request.__init__ is wrapped_init
    finally:
        clock.stop()
    assert (Request.__init__, Agent.handle_message) == (plain_init, plain_handle)
    assert not clock.started
    clock.stop()  # stopping a stopped clock changes nothing
    assert Request.__init__ is plain_init

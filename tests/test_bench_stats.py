"""The bench's statistics (bench/stats.py) and how its report reads them (bench/report.py)."""

from __future__ import annotations

import math

import pytest

from bench.botpath import PROBES_HELD, CapacityProbes, ChannelRun, PacedOutside
from bench.checks import TIMES, Check
from bench.claims import ClaimsResult, LoadRun
from bench.profile import analyse
from bench.report import cost_split, hottest, page_parts
from bench.stats import median, paired_ratio_interval, wait_growth
from bench.waiting import QueueCosts, WaitingResult


def test_the_interval_holds_the_ratio_and_widens_with_rounds_that_disagree() -> None:
    steady_rest = [[10.0, 11.0, 12.0]] * 8
    steady_handoff = [[11.0, 12.0, 13.0]] * 8
    low, high = paired_ratio_interval(steady_handoff, steady_rest)
    assert math.isclose(low, 12 / 11) and math.isclose(high, 12 / 11)  # every draw gives the same ratio

    noisy_handoff = [[11.0, 12.0, 13.0], [22.0, 24.0, 26.0]] * 4  # every other round twice as slow
    low, high = paired_ratio_interval(noisy_handoff, steady_rest)
    whole = median([x for r in noisy_handoff for x in r]) / median([x for r in steady_rest for x in r])
    assert low < whole < high
    assert low < 12 / 11 * 1.1 and high > 24 / 11 * 0.9


def test_too_few_pairs_give_no_interval() -> None:
    low, high = paired_ratio_interval([[1.0]], [[1.0]])
    assert math.isnan(low) and math.isnan(high)


def test_a_run_keeps_its_rounds_apart() -> None:
    run = ChannelRun("REST")
    run.latencies += [0.1, 0.2]
    run.end_round()
    run.latencies += [0.3]
    run.end_round()
    assert run.latencies_by_round() == [[0.1, 0.2], [0.3]]


def test_a_kept_round_joins_a_run_with_its_rounds_still_apart() -> None:
    run, kept = ChannelRun("REST"), ChannelRun("REST")
    run.latencies += [0.1, 0.2]
    run.end_round()
    run.cpu["rasa"] = 1.0
    run.completed = 2
    kept.latencies += [0.3, 0.4, 0.5]
    kept.by_place[0] += [0.3]
    kept.end_round()
    kept.cpu["rasa"] = 2.0
    kept.completed = 3
    kept.rounds.append((3, 6.0))
    run.absorb(kept)
    assert run.latencies_by_round() == [[0.1, 0.2], [0.3, 0.4, 0.5]]
    assert run.cpu_ms_per_message("rasa") == 600.0  # 3 s over 5 messages
    assert run.by_place[0] == [0.3] and run.rounds == [(3, 6.0)]


def test_a_pair_with_the_machine_busy_elsewhere_is_run_again_while_reruns_are_allowed() -> None:
    outside = PacedOutside(quiet=0.05, limit=0.10)
    assert outside.keeps([0.10, 0.12], rerun_allowed=True)
    assert not outside.keeps([0.10, 0.40], rerun_allowed=True)
    assert outside.reruns == 1 and math.isclose(outside.rejected[0], 0.35)
    assert outside.keeps([0.40, 0.10], rerun_allowed=False)  # out of reruns: counted, and reported as such
    assert [round(load, 2) for load in outside.kept] == [0.05, 0.07, 0.35, 0.05]


def test_the_paced_rate_follows_the_median_of_the_latest_capacity_measures() -> None:
    probes = CapacityProbes([40.0])
    assert probes.measured(30.0) == 35.0  # the saturated rounds' figure and one short round
    assert probes.measured(44.0) == 40.0  # one outlier among three does not move it
    for _ in range(PROBES_HELD):
        probes.measured(30.0)  # the machine slowed down: the older measures fall out
    assert probes.measured(30.0) == 30.0
    assert probes.measures[:3] == [40.0, 30.0, 44.0] and len(probes.measures) == 3 + PROBES_HELD + 1


def test_a_verdict_inside_its_interval_says_the_run_did_not_settle_it() -> None:
    settled = Check("1", "ratio", 1.01, 1.03, TIMES, interval=(0.98, 1.02))
    assert settled.met and settled.settled and settled.verdict == "met, by 0.020 (2%)"
    unsettled = Check("1", "ratio", 1.01, 1.03, TIMES, interval=(0.87, 1.18))
    assert unsettled.met and not unsettled.settled
    assert unsettled.verdict.endswith("not settled: its 95% interval 0.870-1.180 spans the target")
    missed = Check("1", "throughput", 0.968, 0.97, TIMES, higher_is_better=True, interval=(0.93, 1.01))
    assert not missed.met and not missed.settled and "**missed, by 0.002" in missed.verdict
    assert Check("1", "ratio", 1.2, 1.03, TIMES).settled  # no interval: the value alone decides


def test_wait_growth_matches_the_queue_it_describes() -> None:
    arrivals, service = 26.0, 0.027  # messages/s, s: busy 70%

    def wait(s: float) -> float:
        busy = arrivals * s
        return busy * s / (1 - busy)  # single-server queue's mean wait, up to a constant

    longer = service * 1.001
    measured = math.log(wait(longer) / wait(service)) / math.log(1.001)
    assert math.isclose(wait_growth(arrivals * service), measured, rel_tol=1e-2)
    assert wait_growth(0.7) > 4 > wait_growth(0.5) > 2  # the busier, the more it multiplies


def test_wait_growth_refuses_a_queue_that_never_drains() -> None:
    for busy in (1.0, 1.2, -0.1):
        with pytest.raises(ValueError):
            wait_growth(busy)


def _waiting(page_ms: list[float], script_ms: list[float]) -> WaitingResult:
    seconds = [[value / 1000 for value in values] for values in (page_ms, script_ms, [1.0] * 3, [0.5] * 3)]
    costs = QueueCosts(
        10_000, page=seconds[0], page_size=100, page_bytes=31_000, page_redis=seconds[1], floor=seconds[2]
    )
    costs.page_parse = seconds[3]
    return WaitingResult([costs], [])


def test_the_first_pages_parts_are_named_and_a_rest_within_their_noise_is_said_so() -> None:
    (spread,) = page_parts(_waiting([3.0, 3.2, 3.4], [1.5, 1.6, 1.7]))
    assert "3.20 ms go" in spread and "1.00 ms for any agent request" in spread and "1.60 ms for the page's" in spread
    assert "0.60 ms for the rest" in spread and "in 0.50 ms (Python's json)" in spread
    (tight,) = page_parts(_waiting([2.5, 2.6, 2.7], [1.55, 1.6, 1.65]))
    assert "within their noise" in tight and "for the rest" not in tight
    assert page_parts(WaitingResult([QueueCosts(100, page=[0.003], floor=[0.001])], [])) == []  # an older run's


def test_a_rate_missed_by_a_little_is_shown_in_whole_units() -> None:
    check = Check("3", "claims per second", 2_934.0, 3_000, "/s", higher_is_better=True)
    assert check.verdict == "**missed, by 66 /s (2%)**"
    assert Check("4", "first page", 3.57, 5, "ms").verdict == "met, by 1.43 ms (29%)"


def _run(name: str, cpu: dict[str, float], statuses: dict[int, int]) -> LoadRun:
    run = LoadRun(name, seconds=1.0, cpu=cpu)
    run.statuses.update(statuses)
    return run


def test_a_claims_cost_is_split_between_the_rasa_process_and_the_channel() -> None:
    claims = _run("claims", {"rasa": 0.125, "bench client": 0.04}, {200: 300, 409: 600, 429: 100})
    bare = _run("bare Sanic", {"bare Sanic": 0.68}, {200: 10_000})
    inside = _run("bare route in Rasa", {"rasa": 0.85}, {200: 10_000})
    result = ClaimsResult(100, 3, claims, bare, 300, 0, 0, 1_000, in_rasa=inside)

    assert claims.decided_per_second == 900  # the 429s are no claims
    assert result.ratio == pytest.approx(0.09)
    split = cost_split(result)
    assert "125 µs of server CPU against 68 µs" in split and "85 µs for the same answer" in split
    assert "The Rasa process adds 17 µs" in split and "the channel's work adds 40 µs" in split


def test_sanics_recompiled_methods_count_as_sanic_and_the_rest_by_their_file() -> None:
    data = {
        "samples": [
            {"stack": ["sanic/server/runners.py:serve", "http1_request_header:http1_request_header"], "count": 3},
            {"stack": ["sanic/server/runners.py:serve", "connection_task:connection_task"], "count": 2},
            {"stack": ["handle_request:handle_request", "channels/handoff/store.py:claim"], "count": 4},
            {"stack": ["handle_request:handle_request", "asyncio/streams.py:read"], "count": 1},  # not Sanic's read
            {"stack": ["sanic/server/runners.py:serve"], "count": 10},  # the loop waiting: idle
        ]
    }
    found = analyse("claims", data, 1.0)
    assert found.idle == 10 and found.busy_share == 0.5
    assert found.kind("Sanic") == 0.5
    assert found.kind("the handoff channel") == 0.4
    assert found.kind("asyncio") == 0.1
    assert found.kind("other") == 0.0
    assert found.top[0] == ("channels/handoff/store.py:claim", 0.4)
    assert hottest(found) == ", `channels/handoff/store.py:claim`, takes 40% of it"

"""The injected slowdown is real work inside the timed region, in the child's measurement only."""

import time

import pytest

from cifar.workloads import INJECT_ENV, injected_slowdown, measure


def _timed_rounds(monkeypatch, inject, injectable=True):
    if inject is None:
        monkeypatch.delenv(INJECT_ENV, raising=False)
    else:
        monkeypatch.setenv(INJECT_ENV, inject)
    inner = []

    def run_round():
        start = time.perf_counter()
        time.sleep(0.005)
        inner.append(time.perf_counter() - start)

    result = measure(run_round, rounds=4, warmup_rounds=1, items_per_round=10, injectable=injectable)
    return result, inner[1:]  # the warm-up round is not recorded


def test_injection_spins_inside_every_recorded_round(monkeypatch):
    result, inner = _timed_rounds(monkeypatch, "0.5")
    assert result["injected_slowdown"] == 0.5
    # The spin lasts until 1.5x the round's own work has passed, so every recorded round is at least that.
    for recorded, work in zip(result["durations_seconds"], inner):
        assert recorded >= 1.5 * work


def test_calibration_kernel_is_exempt(monkeypatch):
    result, _ = _timed_rounds(monkeypatch, "0.5", injectable=False)
    assert result["injected_slowdown"] == 0.0


def test_no_injection_without_the_variable(monkeypatch):
    result, _ = _timed_rounds(monkeypatch, None)
    assert result["injected_slowdown"] == 0.0


@pytest.mark.parametrize("text", ["ten percent", "-0.1", "11"])
def test_bad_injection_value_is_a_clear_error(monkeypatch, text):
    monkeypatch.setenv(INJECT_ENV, text)
    with pytest.raises(ValueError, match=INJECT_ENV):
        injected_slowdown()


def test_before_round_runs_before_every_round_outside_the_clock(monkeypatch):
    # The pipeline workload starts a fresh iterator and pulls its warm batches here: never inside a timed round.
    monkeypatch.delenv(INJECT_ENV, raising=False)
    events = []
    clock = iter(range(1000))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))

    def before_round():
        events.append("before")
        time.perf_counter()  # advances the fake clock: would show up in a duration if it were timed

    result = measure(lambda: events.append("round"), rounds=3, warmup_rounds=2, items_per_round=10,
                     before_round=before_round)
    assert events == ["before", "round"] * 5
    assert result["durations_seconds"] == [1.0, 1.0, 1.0]  # start and end reads only


def test_cpu_per_item_counts_only_the_timed_rounds(monkeypatch):
    """Issue 19, item 4: untimed work before each round (a pipeline's warm batches) burns CPU that must not be
    charged to the recorded rounds' items."""
    monkeypatch.delenv(INJECT_ENV, raising=False)

    def burn(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    result = measure(lambda: time.sleep(0.02), rounds=3, warmup_rounds=1, items_per_round=1000,
                     before_round=lambda: burn(0.05))
    # Sleeping rounds use ~no CPU; 3 x 50 ms of untimed burning would show as ~50 ms per 1,000 items.
    assert result["cpu_seconds_per_1000_items"] < 0.02


def _unit_clock(monkeypatch, unit_times):
    """A fake perf_counter that a unit advances by its next time from `unit_times`."""
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    times = iter(unit_times)

    def unit():
        now[0] += next(times)

    return unit


def test_warm_up_stops_once_three_units_in_a_row_agree(monkeypatch):
    from cifar.workloads.timing import warm_up

    # A traced first unit, a slow second, then steady ones: the third steady unit ends it.
    unit = _unit_clock(monkeypatch, [0.7, 0.05, 0.030, 0.031, 0.030, 0.030])
    record = warm_up(unit, cap_units=30)
    assert record["units"] == 5 and record["stable"] is True
    assert record["unit_seconds"] == pytest.approx([0.7, 0.05, 0.030, 0.031, 0.030])
    assert record["seconds"] == pytest.approx(0.841)


def test_warm_up_that_never_settles_stops_at_the_cap_and_says_so(monkeypatch):
    from cifar.workloads.timing import warm_up

    unit = _unit_clock(monkeypatch, [0.7, 0.03, 0.05, 0.03, 0.05, 0.03, 0.05, 0.03])
    record = warm_up(unit, cap_units=6)
    assert record["units"] == 6 and record["stable"] is False and record["cap_units"] == 6


def test_measure_warms_up_with_units_and_times_whole_rounds(monkeypatch):
    monkeypatch.delenv(INJECT_ENV, raising=False)
    events = []
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])

    def step(event, seconds):
        events.append(event)
        now[0] += seconds

    result = measure(lambda: step("round", 1.0), rounds=3, warmup_rounds=1, items_per_round=10,
                     run_unit=lambda: step("unit", 0.2), units_per_round=5)
    # Equal units agree at once: three of them, then the rounds; no whole round is spent warming up.
    assert events == ["unit"] * 3 + ["round"] * 3
    assert result["warmup"]["units"] == 3 and result["warmup"]["stable"] is True
    assert len(result["durations_seconds"]) == 3
    assert result["durations_seconds"] == [1.0, 1.0, 1.0] and result["phases"]["warmup_seconds"] == pytest.approx(0.6)
    without = measure(lambda: step("round", 1.0), rounds=1, warmup_rounds=0, items_per_round=1,
                      run_unit=lambda: events.append("x"),
                      units_per_round=5)
    assert without["warmup"]["units"] == 0 and "x" not in events


def test_measure_without_a_unit_warms_up_with_whole_rounds(monkeypatch):
    monkeypatch.delenv(INJECT_ENV, raising=False)
    events = []
    result = measure(lambda: events.append("round"), rounds=2, warmup_rounds=2, items_per_round=10)
    assert events == ["round"] * 4 and result["warmup"]["rule"] == "warmup_rounds whole rounds"
    with pytest.raises(ValueError, match="units_per_round"):
        measure(lambda: None, rounds=1, warmup_rounds=1, items_per_round=1, run_unit=lambda: None)


def test_an_epoch_counts_the_images_it_trained_on():
    """Issue 38, item 1: the arrays epoch over fewer images than steps x 128 (the user's own data: 512 images
    against 10 steps) runs 4 steps an epoch; counting 1,280 images made it 2.5x faster than it was."""
    from cifar.workloads.epoch import images_trained

    assert images_trained(4, 128, 512) == 512  # arrays: 4 full batches, all of the data
    assert images_trained(4, 128, 500) == 500  # the last batch partial
    assert images_trained(10, 128, 1280) == 1280  # the suite's own: steps x 128 images
    assert images_trained(10, 128) == 1280  # a repeated pipeline: full batches only

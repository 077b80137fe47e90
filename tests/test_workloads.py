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

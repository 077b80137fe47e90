"""How every workload times its rounds: `measure`, the result every workload returns (`summarize`), the
contention probe, and the slowdown injected on purpose to show the gate catches it.

A round is a fixed amount of work (``items_per_round`` items); warm-up rounds run first and are not recorded.
Each recorded round is timed with ``perf_counter`` in the child that ran it; this process's CPU time inside
the recorded rounds gives CPU per item.
"""

from __future__ import annotations

import os
import resource
import statistics
import time

#: Above this share of the machine's CPU time used by other processes, a measurement is "contended".
CONTENTION_THRESHOLD = 0.10
#: Set to a fraction (0.10 = 10 %) to make every measured round that much slower with a busy-wait inside
#: the timed region, in the child only: how the regression gate is shown to catch a known slowdown.
INJECT_ENV = "CIFAR_BENCH_INJECT_SLOWDOWN"


def injected_slowdown() -> float:
    """The fraction from ``$CIFAR_BENCH_INJECT_SLOWDOWN`` (0 when unset)."""
    text = os.environ.get(INJECT_ENV, "").strip()
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{INJECT_ENV} must be a fraction like 0.10, got {text!r}") from None
    if not 0.0 <= value <= 10.0:
        raise ValueError(f"{INJECT_ENV} must be between 0 and 10, got {text!r}")
    return value


def busy_wait(seconds: float) -> None:
    # Spin, not sleep: the slowdown should cost CPU like real slower code does.
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ContentionProbe:
    """CPU time the rest of the machine used while we measured: system busy time minus our own."""

    def __enter__(self) -> "ContentionProbe":
        import psutil

        self._psutil = psutil
        self._cpus = psutil.cpu_count() or 1
        self._sys0 = psutil.cpu_times()
        self._own0 = own_cpu_seconds()
        self._wall0 = time.perf_counter()
        return self

    @staticmethod
    def _busy(t) -> float:
        return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)

    def __exit__(self, *exc) -> None:
        sys1 = self._psutil.cpu_times()
        wall = time.perf_counter() - self._wall0
        own = own_cpu_seconds() - self._own0
        busy = self._busy(sys1) - self._busy(self._sys0)
        others = max(0.0, busy - own)
        steal = getattr(sys1, "steal", 0.0) - getattr(self._sys0, "steal", 0.0)
        capacity = max(wall * self._cpus, 1e-9)
        self.result = {
            "wall_seconds": wall,
            "own_cpu_seconds": own,
            "other_cpu_seconds": others,
            "steal_seconds": steal,
            "other_fraction": others / capacity,
            "steal_fraction": steal / capacity,
            "contended": (others + steal) / capacity > CONTENTION_THRESHOLD,
        }


def measure(run_round, *, rounds: int, warmup_rounds: int, items_per_round: int, unit: str = "images",
            injectable: bool = True, before_round=None) -> dict:
    """Call ``run_round()`` warm-up + `rounds` times; time each recorded round with ``perf_counter``.

    ``injectable=False`` exempts the calibration kernel from ``$CIFAR_BENCH_INJECT_SLOWDOWN``: it stands for
    the machine, not for the code under test. ``before_round()``, if given, runs before every round, untimed.
    """
    if rounds < 1 or warmup_rounds < 0:
        raise ValueError(f"need rounds >= 1 and warmup_rounds >= 0, got {rounds}, {warmup_rounds}")
    inject = injected_slowdown() if injectable else 0.0
    started = time.perf_counter()
    for _ in range(warmup_rounds):
        if before_round is not None:
            before_round()
        run_round()
    warmup_seconds = time.perf_counter() - started
    durations = []
    between = 0.0  # untimed set-up between recorded rounds (before_round)
    cpu_seconds = 0.0  # this process's CPU (all its threads) inside the timed rounds only
    with ContentionProbe() as probe:
        for _ in range(rounds):
            if before_round is not None:
                mark = time.perf_counter()
                before_round()
                between += time.perf_counter() - mark
            cpu_start = own_cpu_seconds()
            start = time.perf_counter()
            run_round()
            if inject:
                busy_wait(inject * (time.perf_counter() - start))
            durations.append(time.perf_counter() - start)
            cpu_seconds += own_cpu_seconds() - cpu_start
    result = summarize(durations, items_per_round, unit, warmup_rounds, probe.result, inject, cpu_seconds)
    result["phases"] = {"warmup_seconds": warmup_seconds, "between_rounds_seconds": between}
    return result


def summarize(durations: list[float], items_per_round: int, unit: str, warmup_rounds: int, contention: dict,
              injected: float, cpu_seconds: float) -> dict:
    """The result every workload returns. `cpu_seconds`: this process's CPU time inside the recorded rounds
    (not warm-up, not untimed set-up between rounds), so CPU per item is per recorded item."""
    median = statistics.median(durations)
    return {
        "durations_seconds": durations,
        "rounds": len(durations),
        "warmup_rounds": warmup_rounds,
        "items_per_round": items_per_round,
        "unit": unit,
        "items_per_s_median": items_per_round / median,
        "cpu_seconds_per_1000_items": 1000.0 * cpu_seconds / (items_per_round * len(durations)),
        "contention": contention,
        "injected_slowdown": injected,
    }



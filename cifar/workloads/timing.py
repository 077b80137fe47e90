"""How every workload times its rounds: `measure`, the result every workload returns (`summarize`), the
contention probe, and the slowdown injected on purpose to show the gate catches it.

A round is a fixed amount of work (``items_per_round`` items). Before the recorded rounds a workload warms up,
untimed: where it can run one unit of a round alone (one product, one step, one batch), unit by unit until the
unit's time is stable (`warm_up`: `WARMUP_RULE`, at most ``warmup_rounds`` rounds' worth of units); else
``warmup_rounds`` whole rounds. The rule and what it took are in the result's ``warmup``. Each recorded round is
timed with ``perf_counter`` in the child that ran it; this process's CPU time inside the recorded rounds gives CPU
per item.
"""

from __future__ import annotations

import os
import resource
import statistics
import time

#: Above this share of the usable CPUs' time taken by other processes and steal, a measurement is "contended".
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


#: Warm-up stops once this many units in a row agree within WARMUP_TOLERANCE (slowest over fastest)...
WARMUP_WINDOW = 3
WARMUP_TOLERANCE = 0.10
#: ... or once it has run `warmup_rounds` rounds' worth of units (the fixed warm-up it replaced): the cap.
WARMUP_RULE = (f"single units until {WARMUP_WINDOW} in a row agree within {WARMUP_TOLERANCE:.0%} "
               "(slowest / fastest), at most warmup_rounds rounds' worth of units")
FIXED_RULE = "warmup_rounds whole rounds"


def warm_up(run_unit, *, cap_units: int, rule: str = WARMUP_RULE) -> dict:
    """Call ``run_unit()`` until the last `WARMUP_WINDOW` calls took times within `WARMUP_TOLERANCE` of each other
    (the first call, which traces and allocates, is as long as it is; steady calls agree), or `cap_units` times.

    Returns the record a result keeps under ``warmup``: the rule, the units run, whether they settled (False: the
    cap stopped them), the seconds it took and each unit's seconds. ``cap_units=0`` runs nothing."""
    if cap_units < 0:
        raise ValueError(f"cap_units must be >= 0, got {cap_units}")
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < cap_units and not steady(times):
        mark = time.perf_counter()
        run_unit()
        times.append(time.perf_counter() - mark)
    return warmup_record(times, cap_units, time.perf_counter() - started, rule)


def steady(unit_seconds: list[float]) -> bool:
    """Whether the last `WARMUP_WINDOW` units took times within `WARMUP_TOLERANCE` of each other."""
    last = unit_seconds[-WARMUP_WINDOW:]
    return len(last) == WARMUP_WINDOW and max(last) <= (1.0 + WARMUP_TOLERANCE) * min(last)


def warmup_record(unit_seconds: list[float], cap_units: int, seconds: float, rule: str = WARMUP_RULE) -> dict:
    """What a result keeps under ``warmup``."""
    return {"rule": rule, "units": len(unit_seconds), "cap_units": cap_units, "stable": steady(unit_seconds),
            "seconds": seconds, "unit_seconds": list(unit_seconds)}


def busy_wait(seconds: float) -> None:
    # Spin, not sleep: the slowdown should cost CPU like real slower code does.
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


#: Fields of a ``cpuN`` line in /proc/stat (clock ticks), in order; busy time is all but idle, iowait and steal.
_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_BUSY = ("user", "nice", "system", "irq", "softirq")


def per_cpu_times(stat_path: str | os.PathLike = "/proc/stat") -> dict[int, dict[str, float]]:
    """{cpu number: {field: seconds}} from /proc/stat's ``cpuN`` lines (an offline CPU has none)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    with open(stat_path) as f:
        for line in f:
            name, *values = line.split()
            if not name.startswith("cpu") or name == "cpu":
                continue
            out[int(name[3:])] = {k: int(v) / ticks for k, v in zip(_STAT_FIELDS, values)}
    return out


def cgroup_usage_seconds(root: str | os.PathLike = "/sys/fs/cgroup",
                         proc_cgroup: str | os.PathLike = "/proc/self/cgroup") -> float | None:
    """CPU seconds used by every process in this process's cgroup (v2 ``cpu.stat`` usage_usec, v1
    ``cpuacct.usage``); None when unreadable."""
    from pathlib import Path

    root = Path(root)
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        path = path.lstrip("/")
        try:
            if controllers == "":
                for row in (root / path / "cpu.stat").read_text().splitlines():
                    key, value = row.split()
                    if key == "usage_usec":
                        return int(value) / 1e6
            elif "cpuacct" in controllers.split(","):
                for folder in ("cpuacct", "cpu,cpuacct"):
                    usage = root / folder / path / "cpuacct.usage"
                    if usage.is_file():
                        return int(usage.read_text()) / 1e9
        except (OSError, ValueError):
            continue
    return None


class ContentionProbe:
    """CPU time the rest of the machine took from the CPUs this process may use, while we measured.

    The CPUs are the suite's CPU budget (`cifar.training.threads.cpu_budget`, as the thread grid uses): busy and
    steal time are summed over the CPUs of this process's affinity mask only, since load on CPUs it cannot run on
    does not slow it, and the capacity is the budget's cores. Where a cgroup quota is smaller than the mask, what
    competes for the quota is the rest of the cgroup: others are the cgroup's CPU time minus this process's.
    ``stat_path``, ``cgroup_root``, ``proc_cgroup``: where to read (tests point them at fakes).
    """

    def __init__(self, stat_path: str | os.PathLike = "/proc/stat", cgroup_root: str | os.PathLike = "/sys/fs/cgroup",
                 proc_cgroup: str | os.PathLike = "/proc/self/cgroup"):
        self.stat_path, self.cgroup_root, self.proc_cgroup = stat_path, cgroup_root, proc_cgroup

    def __enter__(self) -> "ContentionProbe":
        from cifar.training.threads import cpu_budget

        budget = cpu_budget(self.cgroup_root)
        try:
            self._cpus = sorted(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            self._cpus = list(range(budget.host_logical))
        self._capacity_cores = budget.logical
        self._by_quota = budget.quota_cores is not None and budget.quota_cores < len(self._cpus)
        self._cpu0 = self._sample()
        self._own0 = own_cpu_seconds()
        self._wall0 = time.perf_counter()
        return self

    def _sample(self) -> tuple[float, float, float | None]:
        """(busy, steal) seconds over our CPUs, and the cgroup's usage where a quota decides."""
        try:
            times = per_cpu_times(self.stat_path)
            mine = [times[c] for c in self._cpus if c in times]
            busy = sum(t.get(k, 0.0) for t in mine for k in _BUSY)
            steal = sum(t.get("steal", 0.0) for t in mine)
        except (OSError, ValueError):  # no /proc/stat (not Linux): the whole machine, as psutil sees it
            import psutil

            t = psutil.cpu_times()
            busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
            steal = getattr(t, "steal", 0.0)
        group = cgroup_usage_seconds(self.cgroup_root, self.proc_cgroup) if self._by_quota else None
        return busy, steal, group

    def __exit__(self, *exc) -> None:
        busy1, steal1, group1 = self._sample()
        busy0, steal0, group0 = self._cpu0
        wall = time.perf_counter() - self._wall0
        own = own_cpu_seconds() - self._own0
        if group0 is not None and group1 is not None:
            others = max(0.0, (group1 - group0) - own)
        else:
            others = max(0.0, (busy1 - busy0) - own)
        steal = max(0.0, steal1 - steal0)
        capacity = max(wall * self._capacity_cores, 1e-9)
        self.result = {
            "wall_seconds": wall,
            "own_cpu_seconds": own,
            "other_cpu_seconds": others,
            "steal_seconds": steal,
            "other_fraction": others / capacity,
            "steal_fraction": steal / capacity,
            "contended": (others + steal) / capacity > CONTENTION_THRESHOLD,
            "cpus": len(self._cpus),
            "budget_cores": self._capacity_cores,
        }


def measure(run_round, *, rounds: int, warmup_rounds: int, items_per_round: int, unit: str = "images",
            injectable: bool = True, before_round=None, run_unit=None, units_per_round: int | None = None) -> dict:
    """Warm up, then call ``run_round()`` `rounds` times, each timed with ``perf_counter``.

    Warm-up: with ``run_unit`` (one of the round's `units_per_round` units alone), `warm_up` until a unit's time
    is stable, at most `warmup_rounds` rounds' worth; without it, `warmup_rounds` whole rounds. Either way it is
    untimed and recorded under ``warmup``. ``injectable=False`` exempts the calibration kernel from
    ``$CIFAR_BENCH_INJECT_SLOWDOWN``: it stands for the machine, not for the code under test. ``before_round()``,
    if given, runs before every round (and before the warm-up), untimed.
    """
    if rounds < 1 or warmup_rounds < 0:
        raise ValueError(f"need rounds >= 1 and warmup_rounds >= 0, got {rounds}, {warmup_rounds}")
    if run_unit is not None and (units_per_round is None or units_per_round < 1):
        raise ValueError(f"run_unit needs units_per_round >= 1, got {units_per_round!r}")
    inject = injected_slowdown() if injectable else 0.0
    started = time.perf_counter()
    if run_unit is not None:
        if before_round is not None and warmup_rounds:
            before_round()
        warmup = warm_up(run_unit, cap_units=warmup_rounds * units_per_round)
    else:
        for _ in range(warmup_rounds):
            if before_round is not None:
                before_round()
            run_round()
        warmup = {"rule": FIXED_RULE, "units": warmup_rounds, "cap_units": warmup_rounds, "stable": None}
    warmup["seconds"] = warmup_seconds = time.perf_counter() - started
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
    result["warmup"] = warmup
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



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



"""The contention flag counts load on the CPUs this process may use, not on the whole host.

The flag decides which pairs the gate, the summary and sequential stopping leave out, and whether ``baseline
promote`` refuses a run: load on CPUs outside the affinity mask must not raise it, load on the mask's must.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cifar.workloads import timing

TICKS = os.sysconf("SC_CLK_TCK")


def stat_file(path, busy_ticks: dict[int, int], steal_ticks: dict[int, int] | None = None):
    """A /proc/stat with one line per CPU: `busy_ticks` of user time, the rest idle."""
    steal_ticks = steal_ticks or {}
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for cpu, busy in sorted(busy_ticks.items()):
        lines.append(f"cpu{cpu} {busy} 0 0 1000 0 0 0 {steal_ticks.get(cpu, 0)} 0 0")
    path.write_text("\n".join(lines) + "\nintr 0\n")


@pytest.fixture
def pinned_to_cpu0(monkeypatch, tmp_path):
    """The probe as seen by a process allowed on CPU 0 of a 4-CPU host, no cgroup quota."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    import psutil

    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 4)
    monkeypatch.setattr(timing, "own_cpu_seconds", lambda: 0.0)
    (tmp_path / "cgroup").mkdir()
    return tmp_path


def probe_over(tmp_path, before: dict[int, int], after: dict[int, int], steal_after=None, wall=1.0, monkeypatch=None):
    stat = tmp_path / "stat"
    stat_file(stat, before)
    clock = iter([100.0, 100.0 + wall])
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    with timing.ContentionProbe(stat_path=stat, cgroup_root=tmp_path / "cgroup",
                                proc_cgroup=tmp_path / "none") as probe:
        stat_file(stat, after, steal_after)
    return probe.result


def test_load_on_a_cpu_outside_the_affinity_mask_is_not_contention(pinned_to_cpu0, monkeypatch):
    # CPU 1..3 fully busy for the whole second; CPU 0 (ours) idle but for us (own time faked to 0 here).
    result = probe_over(pinned_to_cpu0, {0: 0, 1: 0, 2: 0, 3: 0}, {0: 0, 1: TICKS, 2: TICKS, 3: TICKS},
                        monkeypatch=monkeypatch)
    assert result["other_fraction"] == 0.0 and not result["contended"]
    assert (result["cpus"], result["budget_cores"]) == (1, 1)


def test_load_on_our_own_cpu_is_contention_measured_against_the_budget(pinned_to_cpu0, monkeypatch):
    # Half a second of someone else's time on CPU 0 in one second: half our budget of one core, not an eighth
    # (the whole 4-CPU host's capacity) as a host-wide probe would say.
    result = probe_over(pinned_to_cpu0, {0: 0, 1: 0}, {0: TICKS // 2, 1: 0}, monkeypatch=monkeypatch)
    assert result["other_fraction"] == pytest.approx(0.5, abs=0.02) and result["contended"]


def test_steal_counts_only_on_our_cpus(pinned_to_cpu0, monkeypatch):
    result = probe_over(pinned_to_cpu0, {0: 0, 1: 0}, {0: 0, 1: 0}, steal_after={1: TICKS}, monkeypatch=monkeypatch)
    assert result["steal_fraction"] == 0.0 and not result["contended"]
    result = probe_over(pinned_to_cpu0, {0: 0, 1: 0}, {0: 0, 1: 0}, steal_after={0: TICKS // 4},
                        monkeypatch=monkeypatch)
    assert result["steal_fraction"] == pytest.approx(0.25, abs=0.02) and result["contended"]


def test_under_a_cgroup_quota_the_rest_of_the_cgroup_is_what_contends(tmp_path, monkeypatch):
    """Quota 1 core, any of 4 CPUs: busy CPUs elsewhere on the host are not ours; the cgroup's usage is."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(timing, "own_cpu_seconds", lambda: 0.0)
    root = tmp_path / "cgroup"
    (root / "bench").mkdir(parents=True)
    (root / "cpu.max").write_text("100000 100000\n")
    (tmp_path / "self-cgroup").write_text("0::/bench\n")
    usage = root / "bench" / "cpu.stat"
    stat = tmp_path / "stat"

    def measured(group_seconds: float) -> dict:
        usage.write_text("usage_usec 0\nuser_usec 0\n")
        stat_file(stat, {0: 0, 1: 0, 2: 0, 3: 0})
        clock = iter([0.0, 1.0])
        monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
        with timing.ContentionProbe(stat_path=stat, cgroup_root=root, proc_cgroup=tmp_path / "self-cgroup") as probe:
            stat_file(stat, {0: TICKS, 1: TICKS, 2: TICKS, 3: 0})  # the host is busy elsewhere
            usage.write_text(f"usage_usec {int(group_seconds * 1e6)}\nuser_usec 0\n")
        return probe.result

    quiet = measured(0.0)
    assert quiet["budget_cores"] == 1 and not quiet["contended"]
    assert measured(0.4)["contended"]


def test_cgroup_usage_reads_v1_cpuacct(tmp_path):
    (tmp_path / "cpuacct" / "job").mkdir(parents=True)
    (tmp_path / "cpuacct" / "job" / "cpuacct.usage").write_text("2500000000\n")
    (tmp_path / "self").write_text("3:cpuacct:/job\n1:cpu:/job\n")
    assert timing.cgroup_usage_seconds(tmp_path, tmp_path / "self") == pytest.approx(2.5)
    assert timing.cgroup_usage_seconds(tmp_path, tmp_path / "missing") is None


SPIN_UNDER_PROBE = """
import json, os, sys, time
os.sched_setaffinity(0, {0})
from cifar.workloads.timing import ContentionProbe
with ContentionProbe() as probe:
    end = time.perf_counter() + float(sys.argv[1])
    while time.perf_counter() < end:
        pass
print(json.dumps(probe.result))
"""

BUSY_LOOP = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs to pin a neighbour beside or onto the measured one")
@pytest.mark.parametrize("neighbour_cpu, contended", [(1, False), (0, True)], ids=["other-cpu", "same-cpu"])
def test_a_real_neighbour_pinned_beside_or_onto_the_measured_cpu(neighbour_cpu, contended):
    """A process pinned to CPU 0 spins under the probe while a busy loop runs pinned to CPU 1 (not its CPU: a
    host-wide probe called that 50 % contended) or to CPU 0 (its CPU: about half its time taken)."""
    neighbour = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(neighbour_cpu)])
    try:
        time.sleep(0.2)  # the loop is running before the measurement starts
        out = subprocess.run([sys.executable, "-c", SPIN_UNDER_PROBE, "1.5"], capture_output=True, text=True,
                             timeout=60, check=True)
    finally:
        neighbour.kill()
        neighbour.wait()
    result = __import__("json").loads(out.stdout)
    assert result["cpus"] == 1 and result["budget_cores"] == 1
    assert result["contended"] is contended, result
    if contended:
        assert result["other_fraction"] > 0.3, result

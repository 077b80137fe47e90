"""pytest-benchmark glue: put a child's timings into the ``benchmark`` fixture's own stats, with what was measured.

The durations recorded are the ones the child measured around each round; pytest's process only waits.
They go into pytest-benchmark's own stats object, so ``--benchmark-autosave/-json/-compare/-compare-fail/
-histogram/-group-by/-sort`` and ``pytest-benchmark compare`` see them exactly as if pytest-benchmark had
timed them. pytest-benchmark has no public "add measured durations" API; `record` uses
``fixture._make_stats(iterations)`` + ``stats.update(duration)``, unchanged from pytest-benchmark 3.1 to
5.3 (the version is pinned below 6 in pyproject.toml, and tests/test_bench.py checks the saved JSON).
"""

from __future__ import annotations


import pytest

from cifar.isolation.errors import ChildError
from cifar.stats.estimate import VALUE_KEY, sample, throughput
from cifar.suite.machine import identity
from cifar.suite.settings import Case, SuiteSettings
from cifar.training.threads import ThreadConfig, core_counts, is_oversubscribed

#: Where conftest.py keeps the session's settings, TensorFlow facts and Campaign (``config.stash``).
SETTINGS = pytest.StashKey[SuiteSettings]()
ENVIRONMENT = pytest.StashKey[dict]()
CAMPAIGN = pytest.StashKey[object]()  # the session's cifar.suite.campaign.Campaign
SESSION_START = pytest.StashKey[float]()  # time.time() when the pytest session started

#: pytest-benchmark's ``_mode`` names how a fixture was used; setting it also tells pytest-benchmark the
#: fixture was used (otherwise it warns "Benchmark fixture was not used at all in this test!").
RECORD_MODE = "cifar isolated child"


def extra_info(case: Case, config: ThreadConfig, result: dict) -> dict:
    """What goes into each benchmark's ``extra_info`` (and so into the saved JSON)."""
    workload = result.get("workload", {})
    _, logical = core_counts()
    pipeline = workload.get("pipeline")
    applied = result.get("threads_applied", {})
    return {
        "case": case.name,
        "workload": case.workload,
        "threads": config.id,
        "threads_requested": config.to_dict(),
        "threads_applied": {k: applied.get(k) for k in ("intra_op_parallelism_threads",
                                                        "inter_op_parallelism_threads")},
        "os_threads": applied.get("os_threads"),
        "cpus": result.get("cpus"),  # the child's CPUs where a setting chose them (a tuned case's), else None: all
        "oversubscribed": is_oversubscribed(config, logical),
        "unit": result["unit"],
        "items_per_round": result["items_per_round"],
        # The estimator's figure (cifar.stats.estimate): each process's items over its time, over processes; and
        # each process's value, under the key that says what it is. The medians of rounds stay for older readers.
        "items_per_s": throughput(result),
        VALUE_KEY: sample(result)[0],
        "items_per_s_median": result["items_per_s_median"],
        "images_per_s_median": result["items_per_s_median"] if result["unit"] == "images" else None,
        "cpu_seconds_per_1000_items": result["cpu_seconds_per_1000_items"],
        "peak_rss_bytes": result["process"]["peak_rss_bytes"],
        "data_source": workload.get("data_source", "none"),
        "model": workload.get("model"),
        "batch_size": workload.get("batch_size"),
        "pipeline": pipeline.get("variant") if isinstance(pipeline, dict) else pipeline,
        "pipeline_id": workload.get("pipeline_id"),
        "runner": result["runner"]["mode"],
        "isolation_overhead_seconds": result["runner"]["isolation_overhead_seconds"],
        "passes": result.get("passes", 1),
        # Adaptive effort: the passes run, the cap, and why it stopped ("settled" within ±5 %, "futile": about
        # processes_needed a side would be needed, "cap": max_passes stopped it, "failed": a configuration crashed,
        # "fixed": no adaptive effort).
        "effort": result.get("effort"),
        "warmup_rounds": result["warmup_rounds"],  # the cap of the warm-up, in rounds' worth of work
        "warmup_per_process": result.get("warmup_per_process", [result["warmup"]] if result.get("warmup") else []),
        "contention_other_fraction": result["contention"]["other_fraction"],
        "contended": result["contention"]["contended"],
        "injected_slowdown": result.get("injected_slowdown", 0.0),
        "durations_per_process": result.get("durations_per_process", [result["durations_seconds"]]),
        "contention_per_process": result.get("contention_per_process", [result["contention"]]),
        "pass_per_process": result.get("pass_per_process"),  # the pass each process ran in
        # What exactly was measured; the gate compares a benchmark only with baselines of the same definition.
        "definition": workload,
    }


def paired_info(tree: str, outcome: dict | ChildError | None) -> dict:
    """``extra_info["paired_baseline"]``: the baseline arm of a paired run, measured in the same session."""
    info: dict = {"tree": tree}
    if isinstance(outcome, ChildError):
        # E.g. a benchmark the baseline code does not have yet: the gate reports it as new.
        info["error"] = str(outcome).splitlines()[0]
    elif outcome is not None:
        info.update(durations_per_process=outcome["durations_per_process"], passes=outcome["passes"],
                    **{VALUE_KEY: sample(outcome)[0]},
                    contended=outcome["contention"]["contended"],
                    contention_per_process=outcome.get("contention_per_process", [outcome["contention"]]),
                    injected_slowdown=outcome.get("injected_slowdown", 0.0), definition=outcome.get("workload"),
                    cpus=outcome.get("cpus"))
    return info


def record(benchmark, durations: list[float], info: dict) -> None:
    """Put the child's per-round `durations` (seconds) into pytest-benchmark's stats for this test."""
    if not durations:
        raise ValueError("no durations to record")
    if any(d <= 0 for d in durations):
        raise ValueError(f"durations must be positive seconds, got {durations!r}")
    benchmark._mode = RECORD_MODE
    stats = benchmark._make_stats(1)
    for duration in durations:
        stats.update(duration)
    benchmark.extra_info.update(info)


def machine_info(environment: dict) -> dict:
    """Machine facts for pytest-benchmark's ``machine_info`` (and the baseline fingerprint): `identity`."""
    return identity(environment)


def session_phases(config, campaign) -> dict:
    """The session's wall time so far by phase (``imports``: from the process's start to the session's; then the
    campaign's, see `cifar.suite.campaign.Phases`; ``other``: collection, pytest-benchmark, the summary so far),
    and the timed fraction (timed rounds / wall)."""
    import time

    import psutil

    now = time.time()
    process_start = psutil.Process().create_time()
    phases = {"imports": config.stash.get(SESSION_START, now) - process_start, **campaign.phase_seconds()}
    wall = now - process_start
    phases["other"] = max(0.0, wall - sum(phases.values()))
    return {"wall_seconds": wall, "seconds": phases, "timed_fraction": timed_fraction(phases, wall),
            "by_workload": {name: {"children": campaign.phases.children[name], "seconds": dict(seconds)}
                            for name, seconds in campaign.phases.by_workload.items()}}


def timed_fraction(phases: dict[str, float], wall: float) -> float:
    """The share of the session's wall time spent inside timed rounds."""
    return phases.get("timed", 0.0) / wall if wall > 0 else 0.0


def phase_line(phases: dict) -> str:
    """``where the time went: 312 s wall, 31 % timed; set-up 140 s, warm-up 61 s, …``, largest first; then, per
    workload, its largest phase that is not measurement (``epoch: warmup 120 s of 300``)."""
    seconds = phases["seconds"]
    parts = ", ".join(f"{name.replace('_', ' ')} {value:.0f} s" for name, value in
                      sorted(seconds.items(), key=lambda item: -item[1]) if value >= 0.5)
    line = (f"where the time went: {phases['wall_seconds']:.0f} s wall, {phases['timed_fraction']:.0%} in timed "
            f"rounds; "
            f"{parts}")
    worst = []
    for workload, entry in sorted((phases.get("by_workload") or {}).items(),
                                  key=lambda item: -sum(item[1]["seconds"].values())):
        untimed = {k: v for k, v in entry["seconds"].items() if k != "timed"}
        if untimed and max(untimed.values()) >= 0.5:
            name = max(untimed, key=untimed.get)
            worst.append(f"{workload} {name.replace('_', ' ')} {untimed[name]:.0f} s of "
                         f"{sum(entry['seconds'].values()):.0f}")
    return line + ("\nlargest phase that is not measurement, per workload: " + ", ".join(worst) if worst else "")


def narrowed_by(keyword: str, markexpr: str, args: list[str], root) -> list[str]:
    """How a run was deliberately narrowed to some of the suite's benchmarks: pytest's ``-k`` and ``-m``, and the
    arguments that name a file or a test id instead of a folder (relative to `root`, where pytest was started).
    The gate then does not take a benchmark the baseline has and the run lacks for a vanished one.

    >>> narrowed_by("conv2d", "", ["benchmarks/", "benchmarks/test_micro.py::test_matmul"], ".")
    ['-k conv2d', 'benchmarks/test_micro.py::test_matmul']
    """
    import os

    out = [f"-k {keyword}"] if keyword else []
    out += [f"-m {markexpr}"] if markexpr else []
    return out + [arg for arg in args if not os.path.isdir(os.path.join(root, arg))]

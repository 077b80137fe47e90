"""Fake pytest-benchmark runs in the suite's format, for the gate, baseline and history tests."""

import json

import numpy as np

MACHINE = {"cpu_model": "AMD EPYC 9B14", "physical_cores": 2, "logical_cores": 2, "tensorflow_version": "2.21.0",
           "python": "3.11.7"}


def make_run(benchmarks: dict, machine: dict | None = None, extra: dict | None = None, datetime="2026-11-26T12:00:00",
             commit: str | None = None, dirty: bool = False, rounds_per_process: int | None = None):
    """benchmarks: fullname -> per-round durations (seconds). ``rounds_per_process``: record them as processes of
    that many rounds each (``durations_per_process``), as the suite does; else as one process (runs from before
    processes were recorded)."""
    run = {
        "machine_info": {"cifar": dict(machine or MACHINE)},
        "datetime": datetime,
        "commit_info": {"id": commit, "dirty": dirty} if commit else {},
        "cifar_settings": {"quick": True, "data": "synthetic", "models": None, "epoch_steps": None,
                           "runner": "zygote", "grid": None},
        "benchmarks": [
            {"fullname": name, "name": name.split("::")[-1], "stats": {"data": list(map(float, data))},
             "extra_info": {"workload": name.split("test_")[-1].split("[")[0],
                            "threads": name.split("-", 1)[-1].rstrip("]") if "-" in name else "default",
                            "contended": False, "injected_slowdown": 0.0, **(extra or {}).get(name, {})}}
            for name, data in benchmarks.items()
        ],
    }
    if rounds_per_process:
        for bench in run["benchmarks"]:
            data, k = bench["stats"]["data"], rounds_per_process
            bench["extra_info"].setdefault("durations_per_process", [data[i:i + k] for i in range(0, len(data), k)])
    return run


def noisy(median, n=10, cv=0.02, seed=0):
    rng = np.random.default_rng(seed)
    return list(median * (1 + cv * rng.standard_normal(n)))


def write(path, run):
    path.write_text(json.dumps(run))
    return path


def make_paired_run(arms: dict, tree: str = "/work/base"):
    """arms: fullname -> (baseline per-process rounds or None, current per-process rounds); a run as
    ``pytest benchmarks/ --baseline-tree`` saves it (``None``: the baseline arm failed)."""
    run = make_run({name: [d for proc in cur for d in proc] for name, (_, cur) in arms.items()})
    run["cifar_settings"]["baseline_tree"] = tree
    for bench in run["benchmarks"]:
        base, cur = arms[bench["fullname"]]
        bench["extra_info"]["durations_per_process"] = cur
        bench["extra_info"]["paired_baseline"] = (
            {"tree": tree, "error": "ChildFailed: no such workload"} if base is None
            else {"tree": tree, "durations_per_process": base, "passes": len(base), "contended": False,
                  "injected_slowdown": 0.0})
    return run


def processes(median, n=10, rounds=5, cv=0.02, seed=0):
    """`n` processes of `rounds` rounds each, every process with its own level (process-to-process noise)."""
    rng = np.random.default_rng(seed)
    return [list(median * (1 + cv * rng.standard_normal()) * (1 + cv / 2 * rng.standard_normal(rounds)))
            for _ in range(n)]

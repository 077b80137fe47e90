"""How a benchmark's noise splits between rounds and processes, and how many rounds a process should run.

Kalibera and Jones ("Rigorous benchmarking in reasonable time", ISMM 2013) model a two-level experiment: n fresh
processes of r rounds each, a round's time y_ij = mu + b_i + e_ij, processes differing by sd sigma_b, rounds within a
process by sd sigma_w. The mean over everything has variance sigma_b^2 / n + sigma_w^2 / (n r), and each process
costs c_p (start, set-up, warm-up: what is not a timed round) plus r c_r. For a fixed time, the variance is smallest at

    r* = sqrt(c_p sigma_w^2 / (c_r sigma_b^2)).

This reads saved runs (``pytest benchmarks/ --benchmark-json``, both arms of a paired run; e.g. the sessions
``make gate-check`` keeps) and prints, per benchmark, sigma_w and sigma_b on the log scale (one-way ANOVA
estimates, scipy-free: within = the mean of the processes' round variances, between = the variance of the process
means less within / r), the round's cost, the process's cost (from the run's per-workload phases where recorded,
``cifar_phases.by_workload``; else from the session's totals), the rounds a process runs now and r*, and the
variance of the mean at r* in the same time relative to now.

    python scripts/measure/variance_split.py reports/gate-check-paired/*.json [--out reports/variance-split.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path


def split(groups: list[list[list[float]]]) -> tuple[float, float, float] | None:
    """(sigma_w, sigma_b, r) of log round times over `groups` (each one arm of one run: arms of a paired run, or
    sessions with an injected slowdown, centre apart, so processes are compared within their group only), or None
    without a group of 3 processes of 2+ rounds."""
    groups = [[[math.log(d) for d in p] for p in g if len(p) >= 2] for g in groups]
    groups = [g for g in groups if len(g) >= 3]
    if not groups:
        return None
    processes = [p for g in groups for p in g]
    r = statistics.mean(len(p) for p in processes)
    within = statistics.mean(statistics.variance(p) for p in processes)
    between = statistics.mean(statistics.variance(statistics.mean(p) for p in g) for g in groups) - within / r
    return math.sqrt(within), math.sqrt(max(between, 1e-12)), r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    per: dict[str, list[list[list[float]]]] = {}  # benchmark -> groups (an arm of a run) -> processes -> rounds
    workload_of: dict[str, str] = {}
    cost: dict[str, list[float]] = {}  # workload -> untimed seconds per child, one per run
    for path in args.runs:
        run = json.loads(Path(path).read_text())
        phases = run.get("cifar_phases") or {}
        for workload, entry in (phases.get("by_workload") or {}).items():
            untimed = sum(v for k, v in entry["seconds"].items() if k != "timed")
            cost.setdefault(workload, []).append(untimed / max(1, entry["children"]))
        for bench in run["benchmarks"]:
            info = bench["extra_info"]
            name = bench["name"]
            workload_of[name] = info["workload"]
            arms = [info.get("durations_per_process") or []]
            if info.get("paired_baseline"):
                arms.append(info["paired_baseline"].get("durations_per_process") or [])
            for arm in arms:
                per.setdefault(name, []).append(arm)
    rows = []
    print(f"{'benchmark':52} {'sigma_w':>8} {'sigma_b':>8} {'round s':>8} {'proc s':>7} {'r now':>6} {'r*':>6} "
          f"{'var at r*':>9}")
    for name in sorted(per):
        found = split(per[name])
        if found is None:
            continue
        sw, sb, r = found
        c_r = statistics.median(d for g in per[name] for p in g for d in p)
        c_p = statistics.median(cost[workload_of[name]]) if workload_of[name] in cost else None
        r_star = math.sqrt(c_p * sw * sw / (c_r * sb * sb)) if c_p else None

        def variance(rounds: float) -> float:  # variance of the mean per unit of time spent (n = T / cost)
            return (sb * sb + sw * sw / rounds) * (c_p + rounds * c_r)

        gain = variance(max(1.0, r_star)) / variance(r) if c_p else None
        rows.append({"benchmark": name, "workload": workload_of[name], "processes": sum(map(len, per[name])),
                     "sigma_within": sw, "sigma_between": sb, "round_seconds": c_r, "process_seconds": c_p,
                     "rounds_now": r, "rounds_optimal": r_star, "variance_at_optimum_relative": gain})
        print(f"{name[:52]:52} {sw:8.1%} {sb:8.1%} {c_r:8.3f} " + (f"{c_p:7.1f} " if c_p else f"{'-':>7} ")
              + f"{r:6.1f} " + (f"{r_star:6.1f} {gain:9.2f}" if r_star else f"{'-':>6} {'-':>9}"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

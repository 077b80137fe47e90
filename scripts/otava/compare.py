"""The project's change-point detector against Apache Otava's, on series with known steps and on real saved runs.

Run with the project's environment; Otava runs in its own (scripts/otava/build-venv.sh builds it):

    scripts/otava/build-venv.sh .otava
    python scripts/otava/compare.py --otava .otava/bin/python --runs .benchmarks/*/*.json

Synthetic series have this machine's noise: the coefficient of variation of per-run medians, measured on the
given runs before any change point (or --cv). Each scenario is a series of --length runs with one step of a
known size at its middle (size 0: no step, every change point found is a false alarm). A detection counts when a
change point lands within one run of the true step. Prints Markdown tables (docs/history.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cifar.reports.history import change_points, history, load  # noqa: E402

STEPS = (0.0, 0.03, 0.05, 0.10, 0.20)


def otava(python: str, series: dict[str, list[float]], max_pvalue: float, window_len: int) -> dict[str, list[dict]]:
    request = {"options": {"max_pvalue": max_pvalue, "window_len": window_len, "min_magnitude": 0.0},
               "series": series}
    proc = subprocess.run([python, str(Path(__file__).with_name("detect.py"))], input=json.dumps(request),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def ours(series: list[float], alpha: float, min_change: float) -> list[dict]:
    return [{"index": cp.index, "pvalue": cp.p_value, "change": cp.change}
            for cp in change_points(series, alpha=alpha, min_change=min_change)]


def synthetic(cv: float, length: int, step: float, trials: int, seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in range(trials):
        values = 1.0 + cv * rng.standard_normal(length)
        values[length // 2:] *= 1.0 - step  # a throughput falling by `step`
        out[f"trial{t}"] = list(map(float, values))
    return out


def score(found: dict[str, list[dict]], truth: int | None) -> tuple[float, float]:
    """(share of series where the step was found within one run, false change points per series)."""
    hits, false = 0, 0
    for points in found.values():
        near = [p for p in points if truth is not None and abs(p["index"] - truth) <= 1]
        hits += bool(near)
        false += len(points) - (1 if near else 0)
    return hits / len(found), false / len(found)


def measured_cv(series) -> float:
    """Median over benchmarks of the CV of per-run values before their first change point (>= 4 runs)."""
    cvs = []
    for s in series:
        values = s.values()[: (s.change_points[0].index if s.change_points else len(s.points))]
        if len(values) >= 4:
            cvs.append(statistics.stdev(values) / statistics.mean(values))
    if not cvs:
        raise SystemExit("no benchmark has 4 runs before its first change point: pass --cv")
    return statistics.median(cvs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--otava", required=True, help="the Otava environment's python")
    parser.add_argument("--runs", nargs="*", default=[], help="saved runs (pytest-benchmark JSON)")
    parser.add_argument("--cv", type=float, help="per-run noise to simulate [measured on --runs]")
    parser.add_argument("--length", type=int, default=24)
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args()

    real = history(load(args.runs)) if args.runs else []
    cv = args.cv if args.cv is not None else measured_cv(real)
    print(f"Synthetic: {args.trials} series per row, {args.length} runs, step at run {args.length // 2 + 1}, "
          f"per-run noise CV {cv:.1%}.\n")
    detectors = [("ours, alpha 0.01, min change 5 % (shipped)", lambda s: {k: ours(v, 0.01, 0.05) for k,
                                                                           v in s.items()}),
                 ("ours, alpha 0.01, no min change", lambda s: {k: ours(v, 0.01, 0.0) for k, v in s.items()}),
                 ("Otava, p 0.001, window 30 (its default)", lambda s: otava(args.otava, s, 0.001, 30)),
                 ("Otava, p 0.01, window 30", lambda s: otava(args.otava, s, 0.01, 30))]
    print("| step | " + " | ".join(name for name, _ in detectors) + " |")
    print("|---|" + "---|" * len(detectors))
    for i, step in enumerate(STEPS):
        series = synthetic(cv, args.length, step, args.trials, seed=i)
        truth = None if step == 0 else args.length // 2
        cells = []
        for _, detect in detectors:
            found, false = score(detect(series), truth)
            cells.append(f"false {false:.2f}/series" if truth is None else f"found {found:.0%}, false {false:.2f}")
        print(f"| {step:.0%} | " + " | ".join(cells) + " |")
    if real:
        print("\nReal saved runs: change points per series (run index, change), ours (shipped) vs Otava (p 0.001):\n")
        print("| benchmark | machine | runs | ours | Otava | agree |")
        print("|---|---|---|---|---|---|")
        theirs = otava(args.otava, {f"{s.name}|{s.fingerprint}": s.values() for s in real}, 0.001, 30)
        for s in real:
            mine = [(cp.index, cp.change) for cp in s.change_points]
            other = [(p["index"], p["change"]) for p in theirs[f"{s.name}|{s.fingerprint}"]]
            agree = {i for i, _ in mine} == {i for i, _ in other}
            fmt = lambda points: ", ".join(f"{s.points[i].commit} {c:+.1%}" for i, c in points) or "-"  # noqa: E731
            print(f"| `{s.short_name}` | {s.fingerprint} | {len(s.points)} | {fmt(mine)} | {fmt(other)} | "
                  f"{'yes' if agree else 'no'} |")


if __name__ == "__main__":
    main()

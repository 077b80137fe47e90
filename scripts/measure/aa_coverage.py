"""Do the estimator's 95 % intervals hold the truth 95 % of the time on this machine? An A/A check on real runs.

One setting measured as two arms: a paired run of this tree against itself (``pytest benchmarks/
--baseline-tree=ROOT``; every pass runs the same code twice, back to back, in fresh processes from two zygotes),
so the true ratio of every benchmark is 1.00. From its `--passes` pairs per compute case, every subset of
`--size` passes (passes kept together: a pass's two processes always go together, as the summary pairs a case's
configurations by pass) gives one interval from `cifar.stats.estimate.compare`, as the summary computes it for
`make bench` (3 processes a side) and the tuner's confirmation for its answer (5, its `MIN_PASSES`). The share that
holds 1.00 is the coverage. Subsets of one run share passes, so they are not independent draws: the figure is
what these passes say, with a Wilson interval over the subsets that overstates its precision; the number of runs
and passes is printed beside it. The percentile bootstrap of medians the suite used before is scored on the same
subsets, for contrast.

    python scripts/measure/aa_coverage.py [--passes 12] [--size 3 --size 5] [--run reports/aa-run.json]
                                          [--from reports/aa-run.json] [--out reports/aa-coverage.json]

``--sessions RUN [RUN ...]`` scores intervals that share no process instead: one per benchmark and configuration
of each paired A/A run given (all its quiet pairs, as the paired gate pairs them), the estimator's (Yuen's trimmed
t on the pairs' log ratios) beside the plain paired t it replaced and the signed-rank (Hodges-Lehmann) interval:
the Walsh averages of the pairs' log ratios between the order statistics the exact signed-rank distribution gives.
With ``--out`` the intervals are written as JSON.

    python scripts/measure/aa_coverage.py --sessions docs/data/gate-check-2026-12-03*/01-A.json \
        docs/data/pinned-aa-2026-12-04.json docs/data/paired-aa-2026-12-04.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from cifar.stats.estimate import compare, process_values
from cifar.stats.significance import paired_ratio_ci
from cifar.suite.runfile import Run

#: The compute cases the summary's best-vs-default intervals are about, and the tuner's (the arrays epoch).
CASES = "matmul or conv2d or train_step or seed_cnn-arrays"


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return centre - half, centre + half


def subsets(n: int, size: int, most: int, rng: random.Random) -> list[tuple[int, ...]]:
    every = list(itertools.combinations(range(n), size))
    return every if len(every) <= most else rng.sample(every, most)


def score(run: Run, sizes: list[int], most: int, seed: int) -> dict:
    rng = random.Random(seed)
    out = {}
    for bench in run.benchmarks:
        if bench.baseline is None or bench.workload == "calibration":
            continue
        base = process_values(bench.baseline.per_process)
        cur = process_values(bench.current.per_process)
        flags_b = [bool(c.get("contended")) for c in bench.baseline.contention] or [False] * len(base)
        flags_c = [bool(c.get("contended")) for c in bench.current.contention] or [False] * len(cur)
        n = min(len(base), len(cur))
        row = {"pairs": n, "contended_pairs": sum(a or b for a, b in zip(flags_b[:n], flags_c[:n]))}
        for size in sizes:
            held = held_bootstrap = total = 0
            widths = []
            for subset in subsets(n, size, most, rng):
                e = compare([base[i] for i in subset], [cur[i] for i in subset], [flags_b[i] for i in subset],
                            [flags_c[i] for i in subset], paired=True)
                if e.ratio is None:
                    continue
                total += 1
                held += e.ratio.low <= 1.0 <= e.ratio.high
                widths.append(e.half_width)
                boot = paired_ratio_ci([base[i] for i in subset], [cur[i] for i in subset])
                held_bootstrap += boot.low <= 1.0 <= boot.high
            widths.sort()
            row[f"size {size}"] = {"intervals": total, "held": held, "coverage": held / total if total else None,
                                   "wilson": wilson(held, total), "bootstrap_held": held_bootstrap,
                                   "median_half_width": widths[len(widths) // 2] if widths else None}
        out[bench.name] = row
    return out


def signed_rank_interval(logs: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Hodges-Lehmann on log ratios: (estimate, low, high) as ratios, the interval from the exact null distribution
    of Wilcoxon's signed-rank statistic (its two-sided coverage is at least `confidence`)."""
    import math

    import numpy as np

    n = len(logs)
    walsh = sorted((logs[i] + logs[j]) / 2.0 for i in range(n) for j in range(i, n))
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):  # the number of sign patterns giving each rank sum
        counts[k:] = counts[k:] + counts[:-k].copy()
    cdf = np.cumsum(counts / counts.sum())
    c = int(np.searchsorted(cdf, (1.0 - confidence) / 2.0, side="right"))  # P(T <= c - 1) <= alpha / 2
    estimate = math.exp(float(np.median(walsh)))
    if c == 0:
        return estimate, 0.0, math.inf
    return estimate, math.exp(walsh[c - 1]), math.exp(walsh[len(walsh) - c])


def plain_t_interval(logs: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The paired t interval on log ratios, untrimmed (scipy's ``ttest_1samp``): what the estimator was before it
    trimmed, for contrast."""
    import math

    import numpy as np
    from scipy import stats

    ci = stats.ttest_1samp(np.asarray(logs), 0.0).confidence_interval(confidence)
    return math.exp(float(np.mean(logs))), math.exp(float(ci.low)), math.exp(float(ci.high))


def independent(paths: list[str], out: str | None) -> None:
    """One interval per benchmark and configuration of each paired A/A run: no two share a process."""
    import math

    from cifar.gate.paired import paired_samples
    from cifar.gate.policy import TREE_POLICY, Policies
    from cifar.stats.estimate import half_width, ratio
    from cifar.stats.estimate import Ratio

    policies = Policies.load(TREE_POLICY, paired=True)
    kinds = ("estimator", "plain t", "signed-rank")
    held = {kind: 0 for kind in kinds}
    widths: dict[str, list[float]] = {kind: [] for kind in kinds}
    rows = []
    for path in paths:
        run = Run.load(path)
        cpu = run.raw.get("machine_info", {}).get("cifar", {}).get("cpu_model")
        for name, (base, cur) in paired_samples(run.raw, policies).items():
            if base is None or len(base) != len(cur) or len(base) < 6 or name == run.calibration:
                continue
            logs = [math.log(c / b) for b, c in zip(base, cur)]
            found = {"estimator": ratio(cur, base, paired=True), "plain t": Ratio(*plain_t_interval(logs)),
                     "signed-rank": Ratio(*signed_rank_interval(logs))}
            for kind, r in found.items():
                held[kind] += r.low <= 1.0 <= r.high
                widths[kind].append(half_width(r))
            rows.append({"run": path, "cpu": cpu, "benchmark": name, "pairs": len(base),
                         **{kind: [r.ratio, r.low, r.high] for kind, r in found.items()}})
            print(f"{path} ({cpu}) {name.split('::')[-1]}: {len(base)} pairs; "
                  + "; ".join(f"{kind} {r.ratio:.3f} [{r.low:.3f}, {r.high:.3f}]" for kind, r in found.items()))
    total = len(rows)
    summary = {}
    for kind in kinds:
        low, high = wilson(held[kind], total)
        ordered = sorted(widths[kind])
        summary[kind] = {"held": held[kind], "intervals": total, "wilson": [low, high],
                         "median_half_width": ordered[len(ordered) // 2]}
        print(f"{kind} intervals held 1.00 in {held[kind]} of {total} ({held[kind] / total:.1%}, Wilson "
              f"[{low:.1%}, {high:.1%}]); median ±{ordered[len(ordered) // 2]:.1%}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({"sessions": paths, "intervals": rows, "all": summary}, indent=2))
        print(f"report: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=12, help="pairs per case in the A/A run [12]")
    parser.add_argument("--size", type=int, action="append", help="passes per interval [3 and 5]")
    parser.add_argument("--most", type=int, default=300, help="at most this many subsets per case and size [300]")
    parser.add_argument("--run", default="reports/aa-run.json", help="where the A/A run is written")
    parser.add_argument("--from", dest="source", help="score an A/A run made earlier instead of making one")
    parser.add_argument("--out", default="reports/aa-coverage.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sessions", nargs="+", metavar="RUN",
                        help="score one interval per benchmark of each paired A/A run given (no shared process): "
                             "the estimator's t and the signed-rank (Hodges-Lehmann) interval; nothing is measured")
    args = parser.parse_args()
    if args.sessions:
        independent(args.sessions, args.out if args.out != parser.get_default("out") else None)
        return
    root = Path(__file__).resolve().parents[2]
    sizes = args.size or [3, 5]
    started = time.time()
    source = Path(args.source or args.run)
    if not args.source:
        source.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pytest", "benchmarks/", "-q", "-p", "no:cacheprovider", "--thread-grid",
                   "default", "--passes", str(args.passes), "-k", CASES, f"--baseline-tree={root}",
                   f"--benchmark-json={source}"]
        print("$ " + " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=root, check=True)
    run = Run.load(source)
    result = score(run, sizes, args.most, args.seed)
    totals = {size: [0, 0, 0] for size in sizes}
    for name, row in result.items():
        cells = []
        for size in sizes:
            cell = row[f"size {size}"]
            totals[size][0] += cell["held"]
            totals[size][1] += cell["intervals"]
            totals[size][2] += cell["bootstrap_held"]
            cells.append(f"{size} a side: {cell['held']}/{cell['intervals']} held 1.00 "
                         f"(bootstrap {cell['bootstrap_held']}), median ±{cell['median_half_width']:.1%}")
        print(f"{name}: {row['pairs']} pairs ({row['contended_pairs']} contended); " + "; ".join(cells))
    summary = {}
    for size, (held, total, boot) in totals.items():
        low, high = wilson(held, total)
        summary[size] = {"held": held, "intervals": total, "coverage": held / total if total else None,
                         "wilson": [low, high], "bootstrap_held": boot}
        print(f"all cases, {size} passes an interval: t intervals held 1.00 in {held} of {total} "
              f"({held / total:.1%}, Wilson [{low:.1%}, {high:.1%}]); the bootstrap of medians in {boot} "
              f"({boot / total:.1%})")
    machine = run.raw.get("machine_info", {}).get("cifar", {})
    report = {"run": str(source), "cpu_model": machine.get("cpu_model"), "datetime": run.datetime,
              "passes": args.passes, "sizes": sizes, "cases": result, "all": summary,
              "seconds": time.time() - started}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"report: {args.out} ({machine.get('cpu_model')}, {time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()

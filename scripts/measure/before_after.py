"""Two trees of this suite measured in one sitting, alternately (old, new, old, new, ...), and the ratios of their
medians: wall time, timed fraction, wall by phase, and the compute cases' best-vs-default half-widths.

The VM's speed moves ~2x from day to day; runs of two trees taken minutes apart in turn share it, so the ratio of
their medians says what the change did, where a figure from another day would not.

    git worktree add --detach ../old c48a14d && git worktree add --detach ../new HEAD
    python scripts/measure/before_after.py run --old ../old --new ../new --repeats 3 --label bench --out reports/ba
    python scripts/measure/before_after.py run --old ../old --new ../new --repeats 3 --label quick --out reports/ba \\
        -- --quick
    python scripts/measure/before_after.py report reports/ba

``run`` calls ``python -m pytest benchmarks/ ARGS --benchmark-json=OUT/LABEL-ARM-I.json`` in each tree with this
interpreter (each tree's own package comes first on ``sys.path``: ``python -m`` puts the working directory
there), and appends each run's wall time, start and exit status to ``OUT/walls.jsonl``. ``report`` reads them
back: per label and arm the medians, and new / old.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: The cases whose best-vs-default interval issue 31 keeps "no wider".
COMPUTE_CASES = ("matmul", "conv2d", "train_step-seed_cnn", "epoch-seed_cnn-arrays")
ARMS = ("old", "new")


def run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for tree in (args.old, args.new):
        if not (Path(tree) / "benchmarks").is_dir():
            sys.exit(f"before_after.py: {tree} is not a tree of this suite (no benchmarks/)")
    extra = [a for a in args.pytest_args if a != "--"]
    for i in range(1, args.repeats + 1):
        for arm, tree in zip(ARMS, (args.old, args.new)):
            json_path = (out / f"{args.label}-{arm}-{i}.json").resolve()
            log = out / f"{args.label}-{arm}-{i}.log"
            start = time.time()
            with open(log, "w") as f:
                rc = subprocess.call([sys.executable, "-m", "pytest", "benchmarks/", "-q", "-p", "no:cacheprovider",
                                      *extra, f"--benchmark-json={json_path}"], cwd=tree, stdout=f, stderr=f)
            wall = time.time() - start
            row = {"label": args.label, "arm": arm, "i": i, "wall": wall, "rc": rc,
                   "start": datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
            with open(out / "walls.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{args.label} {arm} {i}: {wall:.0f} s, exit {rc}", flush=True)


def half_widths(run: dict) -> dict[str, float]:
    """Each compute case's best-vs-default half-width, as the run's summary computed it."""
    from cifar.reports.summary import best_configurations
    from cifar.stats.estimate import half_width

    entries = [b["extra_info"] for b in run["benchmarks"] if "case" in b.get("extra_info", {})]
    return {row.case: half_width(row.speedup) for row in best_configurations(entries)
            if row.case in COMPUTE_CASES and row.speedup is not None}


def summarize(folder: Path) -> dict:
    walls = [json.loads(line) for line in (folder / "walls.jsonl").read_text().splitlines() if line.strip()]
    table: dict = {}
    for row in walls:
        if row["rc"] != 0:
            continue
        run = json.loads((folder / f"{row['label']}-{row['arm']}-{row['i']}.json").read_text())
        phases = run["cifar_phases"]
        table.setdefault(row["label"], {}).setdefault(row["arm"], []).append({
            "wall": row["wall"], "start": row["start"], "timed_fraction": phases["timed_fraction"],
            "phases": phases["seconds"], "half_widths": half_widths(run),
            "by_workload": {k: v["seconds"] for k, v in phases.get("by_workload", {}).items()}})
    out = {}
    for label, arms in table.items():
        entry = {}
        for arm, runs in arms.items():
            names = sorted({k for r in runs for k in r["phases"]})
            cases = sorted({k for r in runs for k in r["half_widths"]})
            entry[arm] = {
                "runs": len(runs), "walls": [r["wall"] for r in runs], "starts": [r["start"] for r in runs],
                "wall": statistics.median(r["wall"] for r in runs),
                "timed_fraction": statistics.median(r["timed_fraction"] for r in runs),
                "timed_fractions": [r["timed_fraction"] for r in runs],
                "phases": {n: statistics.median(r["phases"].get(n, 0.0) for r in runs) for n in names},
                "half_width": {c: statistics.median(r["half_widths"][c] for r in runs if c in r["half_widths"])
                               for c in cases},
                "median_half_width": statistics.median(
                    statistics.median(r["half_widths"].values()) for r in runs if r["half_widths"])
                if any(r["half_widths"] for r in runs) else None,
            }
        if "old" in entry and "new" in entry:
            entry["new_over_old"] = {"wall": entry["new"]["wall"] / entry["old"]["wall"]}
        out[label] = entry
    return out


def report(args) -> None:
    folder = Path(args.folder)
    result = summarize(folder)
    for label, entry in result.items():
        print(f"## {label}")
        for arm in ARMS:
            if arm not in entry:
                continue
            e = entry[arm]
            phases = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(e["phases"].items(), key=lambda kv: -kv[1])
                               if v >= 0.5)
            widths = ", ".join(f"{c} ±{w:.0%}" for c, w in e["half_width"].items())
            print(f"{arm}: {e['runs']} runs, walls {', '.join(f'{w:.0f}' for w in e['walls'])} s "
                  f"(median {e['wall']:.0f}), timed {', '.join(f'{t:.0%}' for t in e['timed_fractions'])}; "
                  f"median phases: {phases}" + (f"; half-widths (medians): {widths}, median of a run's median "
                                                f"±{e['median_half_width']:.1%}" if widths else ""))
        if "new_over_old" in entry:
            print(f"new / old wall (medians): {entry['new_over_old']['wall']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="measure the two trees alternately")
    r.add_argument("--old", required=True)
    r.add_argument("--new", required=True)
    r.add_argument("--repeats", type=int, default=3)
    r.add_argument("--label", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p = sub.add_parser("report", help="the medians and new / old")
    p.add_argument("folder")
    p.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()

"""Does a paired session carry an effect of its arms that its pairs cannot cancel? Runs `--sessions` short A/A
paired sessions of one benchmark (this tree against itself, each session with fresh zygotes), then tests whether
the sessions' mean log(current / baseline) differ by more than their pairs' noise (one-way ANOVA and
Kruskal-Wallis, scipy). If they do, every pair of a session shares something of its arm (e.g. its zygote's
state), and a within-session test counts that as evidence. docs/gate.md quotes its result.

    python scripts/measure/arm_effect.py [--sessions 6] [--passes 8] [-k matmul] [--out reports/arm-effect.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cifar.gate.paired import paired_samples
from cifar.gate.policy import Policies
from cifar.suite.runfile import Run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--passes", type=int, default=8)
    parser.add_argument("-k", default="matmul", help="pytest -k expression naming one benchmark [matmul]")
    parser.add_argument("--out", default="reports/arm-effect.json")
    args = parser.parse_args()
    from scipy.stats import f_oneway, kruskal

    root = Path(__file__).resolve().parents[2]
    policies = Policies.load(root / "baselines" / "gate.json", paired=True)
    sessions: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="cifar-arm-effect-") as tmp:
        for i in range(args.sessions):
            out = Path(tmp) / f"{i}.json"
            command = [sys.executable, "-m", "pytest", "benchmarks/", "-q", "-p", "no:cacheprovider", "--quick",
                       "--thread-grid", "default", "--passes", str(args.passes), "-k", args.k,
                       f"--baseline-tree={root}", f"--benchmark-json={out}"]
            subprocess.run(command, cwd=root, check=True, capture_output=True)
            pairs = paired_samples(Run.load(out), policies)
            (base, cur), = [pair for name, pair in pairs.items() if "calibration" not in name]
            logs = [math.log(c / b) for b, c in zip(base, cur)]
            sessions.append(logs)
            print(f"session {i + 1}: mean log ratio {statistics.mean(logs):+.3f} (ratio "
                  f"{math.exp(statistics.mean(logs)):.3f}), sd {statistics.stdev(logs):.3f}, {len(logs)} pairs",
                  flush=True)
    anova, kw = f_oneway(*sessions), kruskal(*sessions)
    within = statistics.mean(statistics.variance(s) for s in sessions)
    between = statistics.variance([statistics.mean(s) for s in sessions])
    # Between-session variance of the means beyond what the pairs' own noise explains (method of moments).
    extra = max(0.0, between - within / args.passes)
    print(f"ANOVA p {anova.pvalue:.3g}, Kruskal-Wallis p {kw.pvalue:.3g}; sd of a session's arm effect beyond the "
          f"pairs' noise: {math.sqrt(extra):.1%} (pairs' sd {math.sqrt(within):.1%})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"k": args.k, "passes": args.passes, "log_ratios": sessions,
                                          "anova_p": anova.pvalue, "kruskal_p": kw.pvalue,
                                          "arm_effect_sd": math.sqrt(extra), "pair_sd": math.sqrt(within)}, indent=2))


if __name__ == "__main__":
    main()

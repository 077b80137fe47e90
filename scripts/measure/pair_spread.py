"""Per benchmark of paired runs (``pytest benchmarks/ --baseline-tree=…``): its pairs, the per-process CV, the pair
spread (sd of the pairs' log ratios), the estimator's ratio and its one-sided 95 % bound, as the paired gate sees
them (contended pairs left out).

    python scripts/measure/pair_spread.py docs/data/pinned-aa-2026-12-04.json
"""

import argparse
import json
import math
import statistics

from cifar.gate.paired import paired_samples
from cifar.gate.policy import Policies
from cifar.stats.estimate import slowdown_bound


def main(paths: list[str]) -> None:
    policies = Policies.load(None, paired=True)
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        for name, (base, cur) in paired_samples(run, policies).items():
            if base is None or len(base) != len(cur) or len(base) < 3:
                continue
            logs = [math.log(c / b) for b, c in zip(base, cur)]
            cv = statistics.median(statistics.stdev(side) / statistics.mean(side) for side in (base, cur))
            print(f"{name.split('::')[-1]:50s} pairs {len(base):2d}  process CV {cv:6.1%}  "
                  f"pair spread {statistics.stdev(logs):6.1%}  ratio {math.exp(statistics.mean(logs)):.3f}  "
                  f"bound {slowdown_bound(base, cur, True):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Pairs, per-process CV, pair spread, ratio and one-sided 95 % bound "
                                                 "per benchmark of paired runs.")
    parser.add_argument("runs", nargs="+", help="pytest-benchmark JSON of paired runs (--baseline-tree)")
    main(parser.parse_args().runs)

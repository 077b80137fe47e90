"""How often a "95 %" interval over n processes holds the true speedup: the percentile bootstrap of the median of
per-pass ratios (what the summary used, and the tuner's confirmation uses) against the paired Student-t interval
on the log ratios (what the summary uses now). Simulated: two equally fast configurations, each process off by a
log-normal factor of its own, each pass by a drift both see. docs/performance.md quotes its table.

    python scripts/measure/interval_coverage.py [--trials 1000] [--spread 0.05]
"""

from __future__ import annotations

import argparse

import numpy as np

from cifar.stats.estimate import log_t_ratio_ci
from cifar.stats.significance import paired_ratio_ci


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=0.05, help="sd of a process's log factor [0.05]")
    parser.add_argument("--processes", default="2,3,4,6,8,12,16")
    args = parser.parse_args()
    print(f"{'processes':>9}  {'bootstrap of the median':>23}  {'t on the logs':>13}   ({args.trials} trials each)")
    for n in (int(x) for x in args.processes.split(",")):
        rng = np.random.default_rng(n)
        boot = t = 0
        for _ in range(args.trials):
            drift = np.exp(rng.normal(0.0, args.spread, n))
            a = drift * np.exp(rng.normal(0.0, args.spread, n))
            b = drift * np.exp(rng.normal(0.0, args.spread, n))
            r = paired_ratio_ci(list(a), list(b), n_resamples=1000)
            boot += r.low <= 1.0 <= r.high
            r = log_t_ratio_ci(list(a), list(b), paired=True)
            t += r.low <= 1.0 <= r.high
        print(f"{n:>9}  {boot / args.trials:>23.1%}  {t / args.trials:>13.1%}")


if __name__ == "__main__":
    main()

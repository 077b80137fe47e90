"""What the paired gate's looks (`cifar.gate.sequential`) do to its verdicts, simulated: normal log ratios of
pairs with a true effect and spread, the shipped rule (signed-rank, alpha 0.01, floor 2 %), with and without the
looks. docs/gate.md quotes its table.

    python scripts/measure/sequential_looks.py [--trials 1000]

Per row: how often the looks stopped the case ("unchanged"), how often it failed with looks and without them
(the full length), and how often the bound alone (no test clause) fell below 1.05 at a look.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from cifar.gate.decide import compare
from cifar.gate.policy import Policy
from cifar.gate.sequential import MARGIN, look_confidence, looks, stopped_at, upper_bound

POLICY = Policy(alpha=0.01, floor=0.02, test="signed-rank")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args()
    print(f"{'pairs':>5} {'effect':>6} {'pair sd':>7} {'stopped':>8} {'failed, looks':>13} {'failed, full':>12} "
          f"{'bound < 1.05':>12}   ({args.trials} trials each)")
    for pairs in (16, 32):
        for effect, sd in ((0.0, 0.02), (0.0, 0.05), (0.03, 0.02), (MARGIN, 0.02), (MARGIN, 0.08), (0.10, 0.05)):
            rng = np.random.default_rng(pairs * 100 + int(effect * 100) * 10 + int(sd * 100))
            stops = seq = full = bound = 0
            for _ in range(args.trials):
                cur = list(np.exp(rng.normal(math.log1p(effect), sd, size=pairs)))
                base = [1.0] * pairs
                fails = compare("", base, cur, POLICY, ci=False, paired=True, detect=False).verdict == "regression"
                stop = stopped_at(base, cur, POLICY) is not None
                stops += stop
                seq += fails and not stop
                full += fails
                bound += any(upper_bound(base[:n], cur[:n], look_confidence(pairs)) < 1.0 + MARGIN
                             for n in looks(pairs))
            n = args.trials
            print(f"{pairs:>5} {effect:>6.0%} {sd:>7.0%} {stops / n:>8.1%} {seq / n:>13.1%} {full / n:>12.1%} "
                  f"{bound / n:>12.1%}")


if __name__ == "__main__":
    main()

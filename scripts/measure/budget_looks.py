"""The paired gate's looks with a budget (``--budget``), simulated: how often a benchmark ends as a regression,
unchanged or unresolved, and after how many pairs, under three rules applied to the same simulated pairs:

* ``fixed``: no budget, the planned pairs only (the gate before ``--budget``);
* ``spent``: what ships (`cifar.gate.sequential.replay`): extension looks up to twice the planned pairs, the test's
  alpha spent across the looks (`spent_alpha`);
* ``naive``: the same looks, each testing at the whole alpha: what the spending prevents.

A pair's log ratio is normal with sd ``--sd`` plus the true slowdown; with ``--tail`` a process (either arm) runs
30-40 % slower with that chance, this VM's heavy right tail at default threads. The budget never runs out here, so
the extension rows are its worst case for false alarms. The policy is the paired gate's (baselines/gate.json).

    python scripts/measure/budget_looks.py --sessions 1000
"""

import argparse
import json
from contextlib import contextmanager
from dataclasses import asdict

import numpy as np
from rich.console import Console
from rich.table import Table

from cifar.gate import sequential
from cifar.gate.policy import TREE_POLICY, Policies

NAME = "benchmarks/test_micro.py::test_conv2d[conv2d-default]"


@contextmanager
def whole_alpha():
    """Every look tests at the whole alpha (the ``naive`` rule)."""
    kept = sequential.spent_alpha
    sequential.spent_alpha = lambda alpha, pairs, planned, budgeted=True: alpha
    try:
        yield
    finally:
        sequential.spent_alpha = kept


def arm(rng, n: int, sd: float, tail: float) -> np.ndarray:
    """n processes' values of one arm: log-normal spread sd/sqrt(2) (so a pair's log ratio has sd `sd`), and with
    chance `tail` a process 30-40 % slower."""
    values = np.exp(rng.normal(0.0, sd / np.sqrt(2.0), n))
    slow = rng.random(n) < tail
    return values * np.where(slow, 1.3 + 0.1 * rng.random(n), 1.0)


def simulate(sd: float, tail: float, effect: float, planned: int, sessions: int, seed: int, policy) -> dict:
    rng = np.random.default_rng(seed)
    rules = {"fixed": [], "spent": [], "naive": []}
    for _ in range(sessions):
        base = list(arm(rng, 2 * planned, sd, tail))
        cur = list((1.0 + effect) * arm(rng, 2 * planned, sd, tail))
        rules["fixed"].append(sequential.replay(base, cur, policy, planned, budgeted=False))
        rules["spent"].append(sequential.replay(base, cur, policy, planned, budgeted=True))
        with whole_alpha():
            rules["naive"].append(sequential.replay(base, cur, policy, planned, budgeted=True))
    rows = []
    for rule, ends in rules.items():
        verdicts = [v for _, v in ends]
        rows.append({"sd": sd, "tail": tail, "effect": effect, "planned": planned, "rule": rule,
                     "sessions": sessions,
                     **{v: verdicts.count(v) / sessions for v in ("regression", "unchanged", "unresolved")},
                     "mean_pairs": float(np.mean([n for n, _ in ends]))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulate the paired gate's budgeted looks: false alarms with and "
                                                 "without alpha spending, verdicts and pairs against fixed length.")
    parser.add_argument("--sessions", type=int, default=1000, help="simulated sessions a row (default 1000)")
    parser.add_argument("--planned", type=int, default=16, help="planned pairs of the case (PAIRED: 16)")
    parser.add_argument("--sd", type=float, nargs="+", default=[0.025, 0.05, 0.10],
                        help="pair spreads: sd of a pair's log ratio (default 0.025 0.05 0.10)")
    parser.add_argument("--tail", type=float, nargs="+", default=[0.0, 0.1],
                        help="chances a process runs 30-40 %% slower (default 0 0.1)")
    parser.add_argument("--effect", type=float, nargs="+", default=[0.0, 0.05, 0.10],
                        help="true slowdowns (default 0 0.05 0.10)")
    parser.add_argument("--seed", type=int, default=40)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()
    policy = Policies.load(TREE_POLICY, paired=True).for_benchmark(NAME)
    table = Table(title=f"{args.planned} planned pairs, up to {sequential.EXTEND * args.planned}; alpha "
                        f"{policy.alpha}, floor {policy.floor:.0%}, tolerance {policy.tolerance:.0%}; "
                        f"{args.sessions} sessions a row")
    for column in ("pair sd", "tail", "slowdown", "rule", "regression", "unchanged", "unresolved", "mean pairs"):
        table.add_column(column, justify="right")
    rows = []
    for sd in args.sd:
        for tail in args.tail:
            for effect in args.effect:
                seed = args.seed + int(1000 * sd) + int(100 * tail) + int(10000 * effect)
                for row in simulate(sd, tail, effect, args.planned, args.sessions, seed, policy):
                    rows.append(row)
                    table.add_row(f"{sd:.1%}", f"{tail:.0%}", f"{effect:+.0%}", row["rule"],
                                  f"{row['regression']:.1%}", f"{row['unchanged']:.1%}", f"{row['unresolved']:.1%}",
                                  f"{row['mean_pairs']:.1f}")
            table.add_section()
    Console(width=110).print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"policy": asdict(policy), "planned": args.planned, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

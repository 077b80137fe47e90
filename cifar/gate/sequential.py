"""Sequential paired testing: stop measuring a benchmark once its pairs say "unchanged".

A paired run with looks (``--sequential``, as the paired gate ships: `cifar.suite.settings.PAIRED`) measures a
case's pairs up to its passes, but looks at `FIRST_LOOK`, `FIRST_LOOK` + `EVERY`, … pairs before the last. At a
look the case stops when both

* a slowdown of the policy's tolerance or more is excluded: the estimator's one-sided upper bound of the ratio
  (a Student-t bound on the pairs' log(current / baseline)), at confidence 1 - `FUTILITY` / looks, is below
  1 + tolerance (a stricter bound than the final verdict's 95 %, so a stopped case ends "unchanged"); and
* the gate's own test on the pairs so far does not say regression (then the case runs to the end and the test
  decides on every pair);

with at least as many quiet pairs as the gate's test needs to reach alpha (contended pairs left out as the gate
leaves them out: `cifar.stats.estimate.quiet_indices`).

What this does to the error rates (a non-binding futility boundary of a group-sequential design): a regression
is only ever called by the gate's test on the pairs the run ended with, and a stop needs that test to say no,
so stopping adds no false alarms (alpha stays the test's). It can cost detections: when the true slowdown is
the tolerance, each look stops with probability at most its 1 - confidence (as far as the t bound holds), so over
all looks at most `FUTILITY`; a larger slowdown loses less. `make gate-check` measures both with the stopping
applied (real sessions, and resampled ones stopped at the same looks).

>>> looks(16), looks(32), looks(8)
([8, 12], [8, 12, 16, 20, 24, 28], [])
"""

from __future__ import annotations

from cifar.gate.decide import judge_benchmark
from cifar.gate.policy import TREE_POLICY, Policies, Policy
from cifar.stats.estimate import process_values, quiet_indices, slowdown_bound
from cifar.stats.ranktests import TESTS

FIRST_LOOK = 8  # pairs; the signed-rank test at alpha 0.01 needs 7
EVERY = 4
#: Detections a stop may cost at a true slowdown of the tolerance, spread evenly over a case's looks.
FUTILITY = 0.02


def looks(max_pairs: int) -> list[int]:
    """The pair counts at which a case of `max_pairs` pairs looks before its last pair."""
    return list(range(FIRST_LOOK, max_pairs, EVERY))


def upper_bound(baseline: list[float], current: list[float], confidence: float) -> float:
    """One-sided upper confidence bound of the geometric-mean ratio current / baseline over pairs
    (`cifar.stats.estimate.slowdown_bound`); inf with fewer than 2 pairs."""
    return slowdown_bound(baseline, current, paired=True, confidence=confidence)


def look_confidence(max_pairs: int) -> float:
    """Each look's one-sided confidence: `FUTILITY` spread over the case's looks."""
    return 1.0 - FUTILITY / max(1, len(looks(max_pairs)))


def stop_unchanged(baseline: list[float], current: list[float], policy: Policy, max_pairs: int) -> bool:
    """Whether pairs of per-process values (`baseline[i]`, `current[i]`, quiet pairs only) settle the case as
    unchanged at a look of a case of `max_pairs` pairs (see the module docstring)."""
    if len(baseline) != len(current) or len(current) < TESTS[policy.test].needed(policy.alpha):
        return False
    if upper_bound(baseline, current, look_confidence(max_pairs)) >= 1.0 + policy.tolerance:
        return False
    verdict = judge_benchmark("", baseline, current, policy, ci=False, paired=True, detect=False).verdict
    return verdict != "regression"


def stop_results(baseline: list[dict], current: list[dict], policy: Policy, max_pairs: int) -> bool:
    """`stop_unchanged` on the children's results of one configuration, pair i = child i of each arm: each
    process's value as the estimator defines it, pairs in which either process was contended left out."""
    n = min(len(baseline), len(current))
    busy = [bool(baseline[i]["contention"]["contended"] or current[i]["contention"]["contended"]) for i in range(n)]
    keep = quiet_indices(busy)
    base = process_values([baseline[i]["durations_seconds"] for i in keep])
    cur = process_values([current[i]["durations_seconds"] for i in keep])
    return stop_unchanged(base, cur, policy, max_pairs)


def stopped_at(baseline: list[float], current: list[float], policy: Policy) -> int | None:
    """Replaying the looks on `len(current)` pairs of values (resampled sessions, `cifar.gate.check`): the
    look at which the case would have stopped, or None if it runs to the end."""
    for n in looks(len(current)):
        if stop_unchanged(baseline[:n], current[:n], policy, len(current)):
            return n
    return None


class Looks:
    """The looks as a benchmark session asks for them (`cifar.suite.campaign.Campaign`): where a case of so many
    pairs looks, and whether it stops there, by the paired gate's policy for that benchmark (this checkout's
    ``baselines/gate.json``, the file ``python -m cifar gate`` reads unless given --config)."""

    def __init__(self, policies: Policies):
        self.policies = policies

    @classmethod
    def from_tree(cls) -> "Looks":
        return cls(Policies.load(TREE_POLICY, paired=True))

    def at(self, max_pairs: int) -> list[int]:
        return looks(max_pairs)

    def stop(self, fullname: str, baseline: list[dict], current: list[dict], max_pairs: int) -> bool:
        """`stop_results` for the benchmark `fullname` (its policy's patterns match fullnames)."""
        return stop_results(baseline, current, self.policies.for_benchmark(fullname), max_pairs)

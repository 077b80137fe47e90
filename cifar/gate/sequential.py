"""Sequential paired testing: stop measuring a benchmark once its pairs say "unchanged".

A paired run with looks (``--sequential``, as the paired gate ships: `cifar.suite.settings.PAIRED`) measures a
case's pairs up to its passes, but looks at `FIRST_LOOK`, `FIRST_LOOK` + `EVERY`, … pairs before the last. At a
look the case stops when both

* a slowdown of the policy's tolerance or more is excluded: the estimator's one-sided upper bound of the ratio
  (a trimmed-t bound on the pairs' log(current / baseline)), at confidence 1 - `FUTILITY` / looks, is below
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

With a time budget (``--budget``, `extension_looks`): a case still unresolved at its planned last pair (neither a
regression nor a slowdown above its tolerance excluded) gets `EVERY` more pairs at a time, up to `EXTEND` times
its planned pairs, while the session's budget lasts; the extra pairs go only to cases still unresolved. At the
planned end and at each extension look the case stops as soon as its pairs decide: "regression" by the gate's
test, "unchanged" by the strict bound. The test now looks more than once, so its alpha is spent across those looks
(`spent_alpha`): half at the planned end, the other half split evenly over the extension looks. Whichever look a
case ends at, the gate tests it at that look's share, so by the union bound the false alarms over all looks stay
within alpha whatever the stopping did (a Bonferroni spending; the looks are correlated, so the real rate is
lower: docs/gate.md has the simulation). The futility looks' `FUTILITY` is spread over the longer case's looks.

>>> looks(16), looks(32), looks(8)
([8, 12], [8, 12, 16, 20, 24, 28], [])
>>> extension_looks(16), spent_alpha(0.01, 16, 16), spent_alpha(0.01, 24, 16), spent_alpha(0.01, 16, 16, False)
([20, 24, 28, 32], 0.005, 0.00125, 0.01)
"""

from __future__ import annotations

from dataclasses import replace

from cifar.gate.decide import judge_benchmark
from cifar.gate.policy import TREE_POLICY, Policies, Policy
from cifar.stats.estimate import process_values, quiet_indices, slowdown_bound
from cifar.stats.ranktests import TESTS

FIRST_LOOK = 8  # pairs; the signed-rank test at alpha 0.01 needs 7
EVERY = 4
#: Detections a stop may cost at a true slowdown of the tolerance, spread evenly over a case's looks.
FUTILITY = 0.02
#: With a budget, a case may grow to this many times its planned pairs (`extension_looks`).
EXTEND = 2


def looks(max_pairs: int) -> list[int]:
    """The pair counts at which a case of `max_pairs` pairs looks before its last pair."""
    return list(range(FIRST_LOOK, max_pairs, EVERY))


def extension_looks(planned: int) -> list[int]:
    """The pair counts after its planned `planned` pairs at which a budgeted case looks again (the last is its end)."""
    return list(range(planned + EVERY, EXTEND * planned + 1, EVERY))


def spent_alpha(alpha: float, pairs: int, planned: int, budgeted: bool = True) -> float:
    """The alpha the gate's test gets on a case that ended at `pairs` of `planned` planned pairs: all of `alpha`
    without a budget; with one, half at or before the planned end and the other half split evenly over the
    extension looks (`extension_looks`), so the looks' shares sum to `alpha`."""
    extra = extension_looks(planned)
    if not budgeted or not extra:
        return alpha
    return alpha / 2.0 if pairs <= planned else alpha / (2.0 * len(extra))


def upper_bound(baseline: list[float], current: list[float], confidence: float) -> float:
    """One-sided upper confidence bound of the estimator's ratio current / baseline over pairs
    (`cifar.stats.estimate.slowdown_bound`); inf with fewer than 2 pairs."""
    return slowdown_bound(baseline, current, paired=True, confidence=confidence)


def look_confidence(max_pairs: int, budgeted: bool = False) -> float:
    """Each look's one-sided confidence: `FUTILITY` spread over the case's looks (a budgeted case's looks run to
    `EXTEND` times its `max_pairs`)."""
    return 1.0 - FUTILITY / max(1, len(looks(EXTEND * max_pairs if budgeted else max_pairs)))


def look_verdict(baseline: list[float], current: list[float], policy: Policy, planned: int, budgeted: bool = False,
           ) -> str | None:
    """What pairs of per-process values (`baseline[i]`, `current[i]`, quiet pairs only) of a case of `planned`
    pairs say at a look: "regression" when the gate's test at this look's `spent_alpha` says so, "unchanged" when
    not and the strict bound excludes the tolerance; None (go on) otherwise, or with too few pairs for the test."""
    policy = replace(policy, alpha=spent_alpha(policy.alpha, len(current), planned, budgeted))
    if len(baseline) != len(current) or len(current) < TESTS[policy.test].needed(policy.alpha):
        return None
    verdict = judge_benchmark("", baseline, current, policy, ci=False, paired=True, detect=False).verdict
    if verdict == "regression":
        return verdict
    if upper_bound(baseline, current, look_confidence(planned, budgeted)) < 1.0 + policy.tolerance:
        return "unchanged"
    return None


def stop_unchanged(baseline: list[float], current: list[float], policy: Policy, max_pairs: int,
                   budgeted: bool = False) -> bool:
    """Whether pairs of per-process values (`baseline[i]`, `current[i]`, quiet pairs only) settle the case as
    unchanged at a look of a case of `max_pairs` planned pairs (see the module docstring)."""
    return look_verdict(baseline, current, policy, max_pairs, budgeted) == "unchanged"


def quiet_values(baseline: list[dict], current: list[dict]) -> tuple[list[float], list[float]]:
    """The children's results of one configuration as the gate pairs them, pair i = child i of each arm: each
    process's value as the estimator defines it, pairs in which either process was contended left out."""
    n = min(len(baseline), len(current))
    busy = [bool(baseline[i]["contention"]["contended"] or current[i]["contention"]["contended"]) for i in range(n)]
    keep = quiet_indices(busy)
    return (process_values([baseline[i]["durations_seconds"] for i in keep]),
            process_values([current[i]["durations_seconds"] for i in keep]))


def stop_results(baseline: list[dict], current: list[dict], policy: Policy, max_pairs: int,
                 budgeted: bool = False) -> bool:
    """`stop_unchanged` on the children's results of one configuration (`quiet_values`)."""
    return stop_unchanged(*quiet_values(baseline, current), policy, max_pairs, budgeted)


def replay(baseline: list[float], current: list[float], policy: Policy, planned: int, budgeted: bool = True,
           ) -> tuple[int, str]:
    """A case's looks replayed on pairs of values (at least as many as the case can run: `planned`, or `EXTEND`
    times it when `budgeted`), with a budget that never runs out: the pairs it ends at and the paired gate's verdict
    there, at the alpha `spent_alpha` gives it (the simulation of docs/gate.md and tests/test_sequential.py)."""
    for n in looks(planned):
        if stop_unchanged(baseline[:n], current[:n], policy, planned, budgeted):
            return n, "unchanged"
    last = EXTEND * planned if budgeted else planned
    if budgeted:
        for n in [planned, *extension_looks(planned)[:-1]]:
            verdict = look_verdict(baseline[:n], current[:n], policy, planned, budgeted)
            if verdict is not None:
                return n, verdict
    policy = replace(policy, alpha=spent_alpha(policy.alpha, last, planned, budgeted))
    return last, judge_benchmark("", baseline[:last], current[:last], policy, ci=False, paired=True,
                                 detect=False).verdict


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

    #: A budgeted case's extra pairs come `every` at a time, up to `extend` times its planned pairs.
    every = EVERY
    extend = EXTEND

    def at(self, max_pairs: int) -> list[int]:
        return looks(max_pairs)

    def stop(self, fullname: str, baseline: list[dict], current: list[dict], max_pairs: int,
             budgeted: bool = False) -> bool:
        """`stop_results` for the benchmark `fullname` (its policy's patterns match fullnames)."""
        return stop_results(baseline, current, self.policies.for_benchmark(fullname), max_pairs, budgeted)

    def verdict(self, fullname: str, baseline: list[dict], current: list[dict], planned: int) -> str | None:
        """`look_verdict` at a budgeted case's planned end or extension look, on the children's results."""
        return look_verdict(*quiet_values(baseline, current), self.policies.for_benchmark(fullname), planned, True)

    def alpha(self, fullname: str, pairs: int, planned: int) -> float:
        """The alpha the gate's test gets on `fullname` after a budgeted case of `planned` pairs ran `pairs`."""
        return spent_alpha(self.policies.for_benchmark(fullname).alpha, pairs, planned)

"""One benchmark's verdict: is the current sample slower than the baseline's, beyond noise?

A regression needs both statistical evidence (a one-sided rank test, p < alpha) and practical size (the ratio
current / baseline above 1 + floor). "Unchanged" needs the data to rule out the slowdown the policy tolerates:
the one-sided 95 % upper bound of the ratio below 1 + tolerance. A benchmark that is neither is ``unresolved``: its
row says the smallest slowdown it did rule out and about how many processes (pairs) a side would settle it. The
ratio, its 95 % interval and the bound are the estimator's (`cifar.stats.estimate`: the trimmed mean of the
pairs' log ratios with Yuen's trimmed-t interval, or of each side's logs where the processes did not run side by
side); the rank
test is the gate's own. A test that cannot reach p < alpha with this many samples, whatever the data, cannot
fail: that benchmark is ``inconclusive`` and says how many it would need.

=============== ===========================================================================================
verdict         meaning
=============== ===========================================================================================
regression      slower: p < alpha and ratio > 1 + floor (confirmed by a re-measurement, if one is made)
improvement     faster, by the same rule the other way
unchanged       not a regression, and a slowdown above the tolerance is ruled out (one-sided 95 % bound)
unresolved      neither: a slowdown above the tolerance is not ruled out (more processes may settle it)
inconclusive    the test cannot reach p < alpha with these sample sizes: nothing was decided
new / missing   only in the current run / only in the baseline
redefined       the benchmark now measures something else (its recorded definition changed): not compared
calibration     the calibration kernel: shown, never gated
=============== ===========================================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cifar.gate.policy import Policy
from cifar.stats.estimate import Ratio, centre, processes_to_bound, slowdown_bound
from cifar.stats.estimate import ratio as estimate_ratio
from cifar.stats.ranktests import FALLBACK, TESTS, test_for
from cifar.stats.significance import detectable_slowdown

VERDICTS = ("regression", "inconclusive", "unresolved", "improvement", "new", "redefined", "missing", "unchanged",
            "calibration")
#: A paired gate notes every benchmark whose own noise hid slowdowns this large (with 80 % power).
BLIND_SPOT = 0.10
DETECTION_POWER = 0.8


@dataclass(frozen=True)
class Comparison:
    name: str
    verdict: str  # one of VERDICTS
    #: Seconds per round: the centre of each side's processes (`cifar.stats.estimate.centre`).
    baseline_seconds: float | None = None
    current_seconds: float | None = None
    ratio: Ratio | None = None  # current / baseline: > 1 is slower
    p_slower: float | None = None
    p_faster: float | None = None
    policy: Policy = Policy()
    remeasured: bool = False
    first: "Comparison | None" = None  # the failing comparison that triggered the re-measurement
    test: str = FALLBACK.name  # the test that gave the p-values (a paired run may fall back to it)
    #: Paired runs: about the smallest slowdown this comparison would have flagged with 80 % power, given the
    #: spread of its own processes (never below the floor; inf when the test cannot reach alpha).
    detectable: float | None = None
    #: Inconclusive: the samples per side the test needs to be able to reach alpha at all.
    needed: int | None = None
    #: A regression whose re-measurement gave no result for it (why, one line): seen, not confirmed.
    unconfirmed: str | None = None
    #: The estimator's one-sided 95 % upper bound of the ratio: slowdowns above bound - 1 are ruled out (inf: none).
    bound: float | None = None
    #: Unresolved: about how many processes (pairs) a side would bring the bound under 1 + tolerance if the point
    #: and spread stay (None: the point itself is above the tolerance, so more processes cannot).
    to_resolve: int | None = None

    @property
    def rules_out(self) -> float | None:
        """The smallest slowdown the data ruled out (0.083: "> +8.3 %"), None where nothing was compared."""
        return None if self.bound is None else self.bound - 1.0

    @property
    def rules_out_text(self) -> str:
        """``> +8.3 %``; ``nothing`` when the bound is infinite (too few processes); ``-`` when not compared."""
        if self.bound is None:
            return "-"
        return "nothing" if math.isinf(self.bound) else f"> {self.rules_out:+.1%}"

    @property
    def short_name(self) -> str:
        return self.name.split("::")[-1]

    def to_dict(self) -> dict:
        return {
            "name": self.name, "verdict": self.verdict, "baseline_seconds": self.baseline_seconds,
            "current_seconds": self.current_seconds,
            "ratio": None if self.ratio is None else [self.ratio.ratio, self.ratio.low, self.ratio.high],
            "p_slower": self.p_slower, "p_faster": self.p_faster, "alpha": self.policy.alpha,
            "floor": self.policy.floor, "test": self.test, "remeasured": self.remeasured,
            "detectable_slowdown": None if self.detectable is None or math.isinf(self.detectable) else self.detectable,
            "needed_per_side": self.needed, "unconfirmed": self.unconfirmed, "tolerance": self.policy.tolerance,
            "rules_out_above": None if self.bound is None or math.isinf(self.bound) else self.rules_out,
            "processes_to_resolve": self.to_resolve,
        }


def smallest_p(n: int, m: int, test: str = FALLBACK.name) -> float:
    """The smallest one-sided exact p-value with `n` and `m` samples (`cifar.stats.ranktests.GateTest.smallest_p`):
    Mann-Whitney U 1 / C(n + m, n), signed-rank (n pairs) 1 / 2**n."""
    return TESTS[test].smallest_p(n, m)


def needed_per_side(alpha: float, test: str = FALLBACK.name) -> int:
    """The fewest samples per side (pairs, for signed-rank) with which the test can reach p < `alpha`."""
    return TESTS[test].needed(alpha)


def judge_benchmark(name: str, baseline: list[float], current: list[float], policy: Policy = Policy(),
                    ci: bool = True, paired: bool = False, detect: bool = True,
                    values: tuple[list[float], list[float]] | None = None,
                    seconds: tuple[float, float] | None = None) -> Comparison:
    """One benchmark: a one-sided rank test both ways on the samples, the ratio current / baseline with its
    interval and its one-sided upper bound, and the verdict; for a `paired` run also what it could have caught
    (unless ``detect=False``). ``ci=False`` leaves out the two-sided interval (resampled verdicts need only the
    point and the bound). `seconds`: (baseline, current) centres to report, else the samples'.

    The test is the policy's (`cifar.stats.ranktests.TESTS`) where it applies, else Mann-Whitney U: a paired
    test (``signed-rank``: Wilcoxon's on log(current[i] / baseline[i])) needs a `paired` run (``baseline[i]``
    and ``current[i]`` ran side by side) with as many values a side; then the ratio's interval is paired too:
    drift common to a pair cancels. The ratio and the bound are the estimator's on `values` (baseline, current
    processes' values) where given, since the stored gate tests rounds but estimates over processes (unpaired);
    else on the samples themselves."""
    test = test_for(policy.test, baseline, current, paired)
    p_slower, p_faster = test.p_values(baseline, current)
    base_v, cur_v = values if values is not None else (baseline, current)
    on_pairs = test.paired and values is None
    ratio = estimate_ratio(cur_v, base_v, paired=on_pairs, interval=ci)
    bound = slowdown_bound(base_v, cur_v, paired=on_pairs)
    blind = test.smallest_p(len(current), len(baseline)) >= policy.alpha
    detectable = None
    if paired and detect:
        # Per-process values are independent units, so their spread says what this run could have seen. (Rounds
        # of one process are not: for stored baselines, which test rounds, such a figure would flatter.)
        detectable = (math.inf if blind else
                      max(policy.floor, detectable_slowdown(baseline, current, policy.alpha, DETECTION_POWER,
                                                            paired=test.paired, efficiency=test.efficiency)))
    to_resolve = None
    if blind:
        verdict = "inconclusive"
    elif p_slower < policy.alpha and ratio.ratio > 1.0 + policy.floor:
        verdict = "regression"
    elif p_faster < policy.alpha and ratio.ratio < 1.0 / (1.0 + policy.floor):
        verdict = "improvement"
    elif bound < 1.0 + policy.tolerance:
        verdict = "unchanged"
    else:
        verdict = "unresolved"
        to_resolve = processes_to_bound(base_v, cur_v, 1.0 + policy.tolerance, paired=on_pairs)
        if to_resolve is not None:  # the guide's df is not Welch's: never fewer than one more than it has
            to_resolve = max(to_resolve, len(cur_v) + 1)
    base_s, cur_s = seconds if seconds is not None else (centre(baseline), centre(current))
    return Comparison(name, verdict, base_s, cur_s, ratio, p_slower, p_faster, policy, test=test.name,
                      detectable=detectable, needed=test.needed(policy.alpha) if blind else None, bound=bound,
                      to_resolve=to_resolve)

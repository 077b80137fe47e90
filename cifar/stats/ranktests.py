"""The gate's tests, one object each, registered in `TESTS`: what the stored gate, the paired gate, its looks and
its check know about a test comes from here. Adding a test is one entry.

A test compares per-process values (seconds per round, lower is faster) of a baseline and a current arm and says
how surely the current one is slower (or faster); the ratio and its interval are the estimator's
(`cifar.stats.estimate`), never a test's.

>>> TESTS["signed-rank"].needed(0.01), TESTS["mann-whitney"].needed(0.01)
(7, 5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cifar.stats.significance import RANK_TEST_EFFICIENCY, signed_rank_p


@dataclass(frozen=True)
class GateTest:
    """One test: its name in ``baselines/gate.json``, whether it compares pairs (value i of each arm ran side by
    side), how the report describes it, and its Pitman efficiency against the t-test (for the smallest slowdown it
    would catch, `cifar.stats.significance.detectable_slowdown`)."""

    name: str
    paired: bool
    description: str
    efficiency: float

    def p_values(self, baseline: list[float], current: list[float]) -> tuple[float, float]:
        """(p that current is slower, p that it is faster), one-sided, exact where the test allows."""
        if self.paired:
            logs = [math.log(c / b) for c, b in zip(current, baseline)]
            return signed_rank_p(logs, "greater"), signed_rank_p(logs, "less")
        from scipy.stats import mannwhitneyu

        return (float(mannwhitneyu(current, baseline, alternative="greater").pvalue),
                float(mannwhitneyu(current, baseline, alternative="less").pvalue))

    def smallest_p(self, n: int, m: int) -> float:
        """The smallest one-sided p it can give with `n` and `m` values a side (pairs: n = m)."""
        if self.paired and n == m:
            return 0.5 ** n
        return 1.0 / math.comb(n + m, n)

    def needed(self, alpha: float) -> int:
        """The fewest values a side (pairs, for a paired test) with which it can reach p < `alpha` at all."""
        n = 1
        while self.smallest_p(n, n) >= alpha:
            n += 1
        return n

    def applies(self, baseline: list[float], current: list[float], paired_run: bool) -> bool:
        """Whether it can judge these samples: a paired test needs a run whose arms ran side by side and as many
        values a side."""
        return not self.paired or (paired_run and len(baseline) == len(current))


MANN_WHITNEY = GateTest("mann-whitney", False, "Mann-Whitney U", RANK_TEST_EFFICIENCY)
SIGNED_RANK = GateTest("signed-rank", True, "signed-rank on each pair's ratio", RANK_TEST_EFFICIENCY)
#: Every test a policy may name; the one that judges samples a paired test cannot (unpaired arms) comes first.
TESTS = {t.name: t for t in (MANN_WHITNEY, SIGNED_RANK)}
#: What judges samples that the policy's test cannot (arms that do not pair up): the first unpaired test.
FALLBACK = MANN_WHITNEY


def test_for(name: str, baseline: list[float], current: list[float], paired_run: bool) -> GateTest:
    """The test that judges these samples: the policy's (`name`) where it applies, else `FALLBACK`."""
    test = TESTS[name]
    return test if test.applies(baseline, current, paired_run) else FALLBACK

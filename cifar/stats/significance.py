"""The gate's significance tests and what they can see: Wilcoxon's signed-rank test on paired measurements and the
smallest slowdown a rank test would catch. Every ratio and interval the suite reports comes from
`cifar.stats.estimate`.

Also the paired percentile bootstrap of medians that the estimator replaced (`paired_ratio_ci`): no module of the
package calls it (tests/test_estimate.py); `scripts/measure/aa_coverage.py` does, to show how it undercovers beside
the estimator's interval (docs/measuring.md).

>>> print(paired_ratio_ci([2.0, 2.0, 2.0], [1.0, 1.0, 1.0]))
2.00x [2.00, 2.00]
"""

from __future__ import annotations

import math

import numpy as np

from cifar.stats.estimate import CONFIDENCE, Ratio

#: Pitman efficiency of Wilcoxon's rank tests relative to the t-test on normal data (3 / pi): a rank test
#: needs ~1 / 0.955 times the samples to see the same shift.
RANK_TEST_EFFICIENCY = 3 / math.pi


def _median_of_ratios(a, b, axis=-1):
    return np.median(np.asarray(a) / np.asarray(b), axis=axis)


def paired_ratio_ci(numerator: list[float], denominator: list[float], confidence: float = CONFIDENCE,
                    n_resamples: int = 2000, seed: int = 0) -> Ratio:
    """median(numerator[i] / denominator[i]) over pairs, with a percentile-bootstrap interval that resamples
    pairs (both values of a pair together: they were measured side by side)."""
    from scipy import stats

    a = np.asarray(numerator, dtype=float)
    b = np.asarray(denominator, dtype=float)
    if a.size == 0 or a.size != b.size:
        raise ValueError(f"paired_ratio_ci needs equal, non-zero numbers of values, got {a.size} and {b.size}")
    point = float(np.median(a / b))
    if a.size < 2:
        return Ratio(point, point, point)
    result = stats.bootstrap((a, b), _median_of_ratios, vectorized=True, paired=True, confidence_level=confidence,
                             n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return Ratio(point, float(ci.low), float(ci.high))


def signed_rank_p(differences: list[float], alternative: str) -> float:
    """One-sided Wilcoxon signed-rank p-value that `differences` centre above 0 (``"greater"``) or below
    (``"less"``): exact when there are no ties or zeros (always, for real timings), else the normal
    approximation (scipy would otherwise run a permutation test, ~0.3 s a call, too slow for resampling)."""
    from scipy.stats import wilcoxon

    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        raise ValueError("signed_rank_p needs at least one difference")
    if not np.any(d):
        return 1.0
    exact = np.all(d != 0) and len(np.unique(np.abs(d))) == d.size
    return float(wilcoxon(d, alternative=alternative, method="exact" if exact else "asymptotic").pvalue)


def detectable_slowdown(baseline: list[float], current: list[float], alpha: float, power: float = 0.8,
                        paired: bool = False, efficiency: float = RANK_TEST_EFFICIENCY) -> float:
    """About the smallest slowdown (0.05 = 5 %) a one-sided rank test at `alpha` would flag with probability
    `power`, given the spread these samples show: the t-test's power formula on log durations (Student's t
    quantiles: with 16 processes normal quantiles claim 80 % where the rank tests reach ~71 %), scaled by the
    test's `efficiency` against the t-test (the rank tests': 3 / pi). ``paired``: baseline[i] and current[i] ran
    side by side (the signed-rank test's spread is that of their log ratios); otherwise the two samples' pooled
    spread (Mann-Whitney U).

    A guide to what a run could have seen, not a guarantee: it assumes the spread is the same in the next run.
    With fewer than 2 values a side it is infinite.
    """
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha!r}, {power!r}")
    a = np.log(np.asarray(current, dtype=float))
    b = np.log(np.asarray(baseline, dtype=float))
    from scipy.stats import t

    if paired:
        if a.size != b.size:
            raise ValueError(f"paired samples need equal lengths, got {b.size} and {a.size}")
        if a.size < 2:
            return math.inf
        se = float(np.std(a - b, ddof=1)) / math.sqrt(a.size)
        df = a.size - 1
    else:
        if a.size < 2 or b.size < 2:
            return math.inf
        pooled = ((a.size - 1) * np.var(a, ddof=1) + (b.size - 1) * np.var(b, ddof=1)) / (a.size + b.size - 2)
        se = math.sqrt(pooled * (1.0 / a.size + 1.0 / b.size))
        df = a.size + b.size - 2
    quantiles = float(t.ppf(1.0 - alpha, df) + t.ppf(power, df))
    return math.expm1(quantiles * se / math.sqrt(efficiency))

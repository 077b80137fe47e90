"""Statistics on per-round durations: medians, ratios with bootstrap confidence intervals, the signed-rank
test of paired measurements (scipy).

Durations are seconds per round (lower is better); a "speedup" of B over A is median(A) / median(B).

>>> from cifar.judging.stats import speedup
>>> round(speedup([2.0, 2.1, 1.9], [1.0, 1.05, 0.95]).ratio, 2)
2.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
#: Pitman efficiency of Wilcoxon's rank tests relative to the t-test on normal data (3 / pi): a rank test
#: needs ~1 / 0.955 times the samples to see the same shift.
RANK_TEST_EFFICIENCY = 3 / math.pi


@dataclass(frozen=True)
class Ratio:
    ratio: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.ratio:.2f}x [{self.low:.2f}, {self.high:.2f}]"


def _median_ratio(a, b, axis=-1):
    return np.median(a, axis=axis) / np.median(b, axis=axis)


def median_ratio_ci(numerator: list[float], denominator: list[float], confidence: float = CONFIDENCE,
                    n_resamples: int = 2000, seed: int = 0) -> Ratio:
    """median(numerator) / median(denominator), with a percentile-bootstrap interval resampling both sides.

    With one value on a side the interval collapses to the point estimate: there is nothing to resample.
    """
    from scipy import stats

    a = np.asarray(numerator, dtype=float)
    b = np.asarray(denominator, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("median_ratio_ci needs at least one value on each side")
    point = float(np.median(a) / np.median(b))
    if a.size < 2 or b.size < 2:
        return Ratio(point, point, point)
    result = stats.bootstrap((a, b), _median_ratio, vectorized=True, paired=False, confidence_level=confidence,
                             n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    ci = result.confidence_interval
    return Ratio(point, float(ci.low), float(ci.high))


def speedup(baseline_durations: list[float], durations: list[float], **kwargs) -> Ratio:
    """How many times faster `durations` are than `baseline_durations` (> 1: faster)."""
    return median_ratio_ci(baseline_durations, durations, **kwargs)


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


def quiet_indices(contended: list[bool]) -> list[int]:
    """Which processes (or pairs) to keep: those not measured while a neighbour used the CPU (``contended``) —
    all of them if over half were (the run itself was contended; dropping most of it would hide that). The one
    rule of the gate (cifar.judging.paired) and the summary."""
    if 2 * sum(contended) > len(contended):
        return list(range(len(contended)))
    return [i for i, busy in enumerate(contended) if not busy]


def log_t_ratio_ci(numerator: list[float], denominator: list[float], paired: bool = False,
                   confidence: float = CONFIDENCE) -> Ratio | None:
    """The geometric-mean ratio numerator / denominator with a Student-t interval on the logs (scipy's
    ``ttest_rel`` when ``paired``: value i of each side was measured side by side; else Welch's ``ttest_ind``).
    None with fewer than 2 values a side: one value says nothing about the spread.

    For the few processes a suite can afford a case. A percentile bootstrap of the median there claims 95 % and
    covers far less: its interval is the range of the values it resamples, so with 2 pairs it holds the true ratio
    about half the time and with 3 about three times in four (tests/test_stats.py simulates it). The t interval
    widens with the t quantile instead (12.7 standard errors at 2 pairs, 4.3 at 3) and holds ~95 % of the time
    when the log durations are roughly normal.

    Two pairs whose ratios are 2.0 and 2.1: the bootstrap says [2.00, 2.10], the t interval what two pairs know.

    >>> print(paired_ratio_ci([2.0, 2.1], [1.0, 1.0]), log_t_ratio_ci([2.0, 2.1], [1.0, 1.0], paired=True))
    2.05x [2.00, 2.10] 2.05x [1.50, 2.79]
    """
    from scipy import stats

    a = np.log(np.asarray(numerator, dtype=float))
    b = np.log(np.asarray(denominator, dtype=float))
    if paired and a.size != b.size:
        raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
    if min(a.size, b.size) < 2:
        return None
    point = float(np.exp(a.mean() - b.mean()))
    d = a - b if paired else None
    if (paired and np.ptp(d) < 1e-12) or (not paired and np.ptp(a) < 1e-12 and np.ptp(b) < 1e-12):
        return Ratio(point, point, point)  # no spread at all (exact copies): nothing to widen
    test = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(confidence_level=confidence)
    return Ratio(point, float(np.exp(ci.low)), float(np.exp(ci.high)))


def half_width(ratio: Ratio) -> float:
    """An interval's half-width relative to its point (0.03: ±3 %)."""
    return (ratio.high - ratio.low) / 2.0 / ratio.ratio


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
                        paired: bool = False) -> float:
    """About the smallest slowdown (0.05 = 5 %) a one-sided rank test at `alpha` would flag with probability
    `power`, given the spread these samples show: the t-test's power formula on log durations (Student's t
    quantiles: with 16 processes normal quantiles claim 80 % where the rank tests reach ~71 %), scaled by the
    rank tests' efficiency. ``paired``: baseline[i] and current[i] ran side by side (the signed-rank test's
    spread is that of their log ratios); otherwise the two samples' pooled spread (Mann-Whitney U).

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
    return math.expm1(quantiles * se / math.sqrt(RANK_TEST_EFFICIENCY))

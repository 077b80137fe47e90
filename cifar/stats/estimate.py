"""The one measurement model: what a process is worth, how two settings compare, how sure that is, what more costs.

Every figure the suite reports about speed rests on these functions; the summary, adaptive effort, the tuner's
confirmation and the claims call them, and nothing computes its own (tests/test_estimate.py checks the sources).

The unit is the fresh process (rounds of one process share its memory layout, thread placement and caches):

* **a process's value** (`process_seconds`): its timed rounds' total time over their number, i.e. the items it
  processed over the time it took (`process_rate`), recorded per process as `VALUE_KEY`. Not the median of its
  rounds: the article's arrays epoch runs some epochs at about half speed (docs/measuring.md), and a median of few
  rounds lands on either speed while the training gets their mean;
* **odd processes** (`quiet_indices`): a process measured while other processes and the hypervisor's steal took more
  than 10 % of its usable CPUs (`cifar.workloads.timing`) is left out, and with it its pass where the comparison is
  paired, unless over half were (then the run itself was contended, and dropping most of it would hide that);
* **the centre of a setting** (`centre`): the trimmed geometric mean of its processes' values (`TRIM`, 20 % cut
  from each end: none below 5 processes);
* **the comparison of two settings** (`compare`, `ratio_ci`): paired by pass where both ran in every pass (process i
  of each ran seconds apart, so the machine's drift between passes cancels), the trimmed mean of the pairs' log
  ratios with Yuen's 95 % trimmed-t interval; unpaired, the ratio of the trimmed geometric means with
  Yuen-Welch's interval (scipy's ``ttest_ind(..., trim=0.2)``). Below 5 processes a side nothing is trimmed and
  these are the paired t and Welch's interval. Trimmed because work that needs both vCPUs has a heavy right tail
  (a process now and then 30-40 % slower), and one such process stretches a plain t interval over the whole tail;
  trimmed, it moves neither the point nor the width much (docs/measuring.md: the simulation and the A/A check).
  `Estimate.n` is the processes a side it rests on, after the odd ones are left out;
* **half-width** (`half_width`): relative to the point, one meaning everywhere (0.03 = ±3 %);
* **processes needed** (`processes_needed`): about how many processes a side would narrow the interval to a
  target half-width if the spread stays what was seen (t quantile included);
* **how much slower it may be** (`slowdown_bound`): the one-sided 95 % upper bound of the ratio, the same
  interval's one-sided form, and about how many processes a side would bring it under a tolerance
  (`processes_to_bound`): what the gate's "unchanged" and "unresolved" rest on;
* **where the next value should fall** (`prediction_interval`): a history's band, from its runs' values.

Values must be positive (a zero or negative time or rate is a broken measurement): every function here says so
with the same `ValueError`. A comparison asked to pair sides of unequal length compares them unpaired and says
so (`Estimate.note`).

A percentile bootstrap of medians, which this replaced, claimed 95 % and held the true ratio 49 % of the time with 2
processes a side and 73 % with 3 (tests/test_stats.py simulates it): its interval is the range of what it resamples.

>>> e = compare([2.0, 2.2, 2.1], [1.0, 1.1, 1.05], paired=True)
>>> print(e.ratio, e.n, f"{half_width(e.ratio):.3f}")
2.00x [2.00, 2.00] 3 0.000
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass, field

CONFIDENCE = 0.95
#: Fewer processes a side give no interval: one value says nothing about the spread.
MIN_PROCESSES = 2
#: The half-width the tuner's confirmation aims for (±3 %).
TARGET_HALF_WIDTH = 0.03
#: The half-width `make bench`'s best-vs-default intervals aim for (±5 %): adaptive effort adds passes until a
#: case's interval is this narrow, or the processes it would take exceed the case's cap.
BENCH_HALF_WIDTH = 0.05
#: The share of values cut from each end before a centre or a ratio is taken (Yuen's trimmed mean, 20 %): floor(0.2 n)
#: of n, so none below 5 processes, one of 5-9, two of 10-14. A process now and then 30-40 % slower (the heavy right
#: tail of work that needs both vCPUs, docs/measuring.md) then moves neither the point nor the interval's width
#: much; on normal noise the interval is ~5 % wider than the plain t's.
TRIM = 0.2
#: The key under which a run records each process's value (seconds per round: total time over rounds).
VALUE_KEY = "seconds_per_round_per_process"


@dataclass(frozen=True)
class Ratio:
    """A ratio with its interval: > 1 means the second setting is faster (a speedup)."""

    ratio: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.ratio:.2f}x [{self.low:.2f}, {self.high:.2f}]"


def process_seconds(rounds: list[float]) -> float:
    """A process's value: its timed rounds' total seconds over their number (lower is faster)."""
    if not rounds:
        raise ValueError("a process with no timed rounds has no value")
    return math.fsum(rounds) / len(rounds)


def process_values(durations_per_process: list[list[float]]) -> list[float]:
    """`process_seconds` of each process."""
    return [process_seconds(rounds) for rounds in durations_per_process if rounds]


def process_rate(rounds: list[float], items_per_round: float) -> float:
    """A process's items over its time: what a training run gets (items per second).

    >>> process_rate([1.0, 2.0, 1.0], 1280)
    960.0
    """
    return items_per_round / process_seconds(rounds)


def centre(values: list[float]) -> float:
    """The centre of processes' values (seconds per round): their trimmed geometric mean (`TRIM` of the logs cut
    from each end; with fewer than 5 processes none, the plain geometric mean), the point every unpaired ratio
    here divides.

    >>> round(centre([1.0, 1.0, 1.0, 1.0, 1.4]), 6)  # the one slow process is trimmed
    1.0
    """
    _positive(values)
    return math.exp(_trimmed(sorted(map(math.log, values)))[0])


def rate(values: list[float], items_per_round: float) -> float:
    """Items per second over processes: items per round over the centre of their values."""
    return items_per_round / centre(values)


def rate_over(rates: list[float]) -> float:
    """The centre of processes given as rates (items/s each): `rate`'s, the items over the geometric mean of their
    seconds per item, which is the geometric mean of the rates."""
    return statistics.geometric_mean(rates)


def quiet_indices(flags: list[bool]) -> list[int]:
    """Which processes (or pairs) to keep: those not flagged contended, or all of them if over half were."""
    if 2 * sum(flags) > len(flags):
        return list(range(len(flags)))
    return [i for i, busy in enumerate(flags) if not busy]


def ratio_point(numerator: list[float], denominator: list[float], paired: bool = False) -> float:
    """The ratio numerator / denominator `ratio_ci` centres its interval on: the trimmed mean of the pairs' log
    ratios when ``paired``, else the ratio of the sides' trimmed geometric means (`centre`). Up to 4 values a
    side nothing is trimmed, and both are the geometric-mean ratio.

    >>> ratio_point([2.0, 8.0], [1.0, 1.0])
    4.0
    """
    return math.exp(_location(numerator, denominator, paired)[0])


def _positive(*sides: list[float]) -> None:
    """Ratios of geometric means need values above 0: a zero or negative time or rate is a broken measurement,
    said as one `ValueError` by every function here (not a NaN from one and a math error from another)."""
    for side in sides:
        bad = [v for v in side if not v > 0]  # also catches NaN
        if bad:
            raise ValueError(f"process values must be positive numbers, got {bad[0]!r}")


def _same_length(a: list[float], b: list[float]) -> None:
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")


def trimmed_count(n: int) -> int:
    """How many of n values `TRIM` cuts from each end: floor(0.2 n), as scipy's ``trim_mean`` cuts (0 below 5)."""
    return int(TRIM * n + 1e-9)


#: The fewest processes a side from which the estimator trims (5): below it one slow process stretches the interval
#: as far as it stretched the plain t, so "processes needed" measured there overstates what trimmed ones need.
TRIMMED_FROM = next(n for n in range(1, 100) if trimmed_count(n))


def _winsorized_variance(logs: list[float]) -> float:
    """Of sorted values (at least 2): their variance after `trimmed_count` of each end are set to the nearest kept
    value (n - 1 in the denominator)."""
    n = len(logs)
    g = trimmed_count(n)
    winsorized = [logs[g]] * g + logs[g:n - g] + [logs[n - 1 - g]] * g
    w_mean = math.fsum(winsorized) / n
    return math.fsum((v - w_mean) ** 2 for v in winsorized) / (n - 1)


def _trimmed(logs: list[float]) -> tuple[float, float, int]:
    """Of sorted values: (trimmed mean, its squared standard error, degrees of freedom), Yuen's: `trimmed_count`
    cut from each end, the standard error from the winsorized variance s_w² as (n - 1) s_w² / (h (h - 1)) with h
    the values kept, h - 1 degrees of freedom. Nothing trimmed, it is the mean, s² / n and n - 1."""
    n = len(logs)
    g = trimmed_count(n)
    kept = logs[g:n - g]
    h = len(kept)
    mean = math.fsum(kept) / h
    if n < 2 or h < 2:
        return mean, math.inf, max(h - 1, 0)
    return mean, (n - 1) * _winsorized_variance(logs) / (h * (h - 1)), h - 1


def _location(numerator: list[float], denominator: list[float], paired: bool) -> tuple[float, float, float]:
    """The log ratio numerator / denominator `ratio_ci` estimates: (point, standard error, degrees of freedom).
    Paired: Yuen's trimmed mean of the pairs' log ratios; unpaired: the difference of the sides' trimmed means with
    Yuen-Welch's standard error and Welch-Satterthwaite's degrees of freedom (scipy's ``ttest_ind(..., trim=0.2,
    equal_var=False)``, tests/test_estimate.py checks they agree)."""
    _positive(numerator, denominator)
    if paired:
        _same_length(numerator, denominator)
        mean, se2, df = _trimmed(sorted(math.log(a / b) for a, b in zip(numerator, denominator)))
        return mean, math.sqrt(se2), df
    (ma, va, da), (mb, vb, db) = (_trimmed(sorted(map(math.log, side))) for side in (numerator, denominator))
    se2 = va + vb
    if se2 == 0.0:
        return ma - mb, 0.0, da + db
    return ma - mb, math.sqrt(se2), se2 ** 2 / ((va ** 2 / da if da else 0.0) + (vb ** 2 / db if db else 0.0))


@functools.lru_cache(maxsize=16_384)
def _quantile(confidence: float, df: float) -> float:
    """Student's t quantile, remembered: "processes needed" walks n upwards through the same few hundred (confidence,
    df), and the gate's check asks it at every look of thousands of resampled sessions (scipy's ppf ~0.1 ms)."""
    from scipy.stats import t

    return float(t.ppf(confidence, df))


def ratio_ci(numerator: list[float], denominator: list[float], paired: bool = False,
             confidence: float = CONFIDENCE) -> Ratio | None:
    """The ratio numerator / denominator (`ratio_point`) with a Student-t interval on the logs that is robust to a
    process now and then much slower (Yuen's trimmed t: `TRIM` of the values cut from each end, the spread from
    the winsorized variance). ``paired`` works on the pairs' log ratios, else on each side's logs (Yuen-Welch).
    With fewer than 5 values a side nothing is trimmed and it is the paired t (``ttest_rel``) or Welch's
    interval. None with fewer than `MIN_PROCESSES` values a side.

    Two pairs whose ratios are 2.0 and 2.1: a bootstrap says [2.00, 2.10]; the t interval says what two pairs know.

    >>> print(ratio_ci([2.0, 2.1], [1.0, 1.0], paired=True))
    2.05x [1.50, 2.79]

    Ten pairs, one of them 35 % slower on one side: trimmed, the slow pair does not widen the interval to ±7 %.

    >>> print(ratio_ci([1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0, 1.35], [1.0] * 10, paired=True))
    1.00x [0.99, 1.01]
    """
    _positive(numerator, denominator)
    if paired:
        _same_length(numerator, denominator)
    if min(len(numerator), len(denominator)) < MIN_PROCESSES:
        return None
    point, se, df = _location(numerator, denominator, paired)
    if se == 0.0:
        return Ratio(math.exp(point), math.exp(point), math.exp(point))  # no spread left: nothing to widen
    half = _quantile(0.5 + confidence / 2.0, df) * se
    return Ratio(math.exp(point), math.exp(point - half), math.exp(point + half))


def ratio(numerator: list[float], denominator: list[float], paired: bool = False, interval: bool = True) -> Ratio:
    """`ratio_ci`, or only its point (low = high = point) when not ``interval`` (resampled verdicts need none)
    or a side has too few values for one."""
    found = ratio_ci(numerator, denominator, paired=paired) if interval else None
    if found is None:
        point = ratio_point(numerator, denominator, paired=paired)
        return Ratio(point, point, point)
    return found


def slowdown_bound(baseline: list[float], current: list[float], paired: bool,
                   confidence: float = CONFIDENCE) -> float:
    """The one-sided upper confidence bound of the ratio current / baseline: how much slower `current` may be, at
    `confidence`. `ratio_ci`'s high end at 2·confidence - 1 (its trimmed t on the logs); inf with fewer than
    `MIN_PROCESSES` a side.

    >>> round(slowdown_bound([1.0, 1.0, 1.0], [1.02, 1.03, 1.04], paired=True), 3)
    1.047
    """
    if min(len(baseline), len(current)) < MIN_PROCESSES:
        return math.inf
    point, se, df = _location(current, baseline, paired)
    return math.exp(point + (_quantile(confidence, df) * se if se else 0.0))


def _spread(baseline: list[float], current: list[float], paired: bool) -> float:
    """The standard error `ratio_ci` would have with one process a side: its standard error times sqrt(n)."""
    n = min(len(baseline), len(current))
    return _location(current, baseline, paired)[1] * math.sqrt(n)


def _df(n: int) -> int:
    """The degrees of freedom of a paired trimmed t over n pairs (h - 1); unpaired ones are about this too."""
    return n - 2 * trimmed_count(n) - 1


def processes_to_bound(baseline: list[float], current: list[float], limit: float, paired: bool,
                       confidence: float = CONFIDENCE, cap: int = 10_000) -> int | None:
    """About how many processes (pairs, when `paired`) a side would bring `slowdown_bound` below `limit` if the
    point and the spread stay what these values show; None when the point is at or above `limit` (more processes
    narrow the bound towards the point, never below it), `cap` when even that many would not do. None too with
    fewer than `MIN_PROCESSES` a side (no spread to go on).

    Four pairs about 1 % slower with a 2.6 % spread rule out > +4.1 %; to rule out > +3 %, 8 (from 5 pairs on, the
    trimmed t has fewer degrees of freedom: 7 would do untrimmed):

    >>> processes_to_bound([1.0, 1.0, 1.0, 1.0], [1.00, 1.04, 0.98, 1.02], 1.03, paired=True)
    8
    """
    _positive(baseline, current)
    if paired and len(baseline) != len(current):
        paired = False
    if min(len(baseline), len(current)) < MIN_PROCESSES:
        return None
    point = _location(current, baseline, paired)[0]
    goal = math.log(limit)
    if point >= goal:
        return None
    spread = _spread(baseline, current, paired)
    for n in range(MIN_PROCESSES, cap):
        if point + _quantile(confidence, _df(n)) * spread / math.sqrt(n) < goal:
            return n
    return cap


def prediction_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Where one more value of the same kind should fall, from `values` (at least 2, all positive): (centre, low,
    high), a Student-t prediction interval on the logs, centre ± t(n-1) · sd · sqrt(1 + 1/n), centre the
    geometric mean. The t quantile pays for knowing the spread from a few values (a history's runs).

    >>> [round(v, 3) for v in prediction_interval([1.0, 1.0, 1.0])]
    [1.0, 1.0, 1.0]
    """
    import numpy as np
    from scipy.stats import t

    _positive(values)
    logs = np.log(np.asarray(values, dtype=float))
    n = logs.size
    if n < 2:
        raise ValueError(f"a prediction interval needs at least 2 values, got {n}")
    centre, sd = float(logs.mean()), float(logs.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd * math.sqrt(1 + 1 / n)
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def spread(values: list[float]) -> float:
    """How much processes (or rounds) differ: the sd of their logs, winsorized as `centre` trims (`TRIM` of each
    end set to the nearest kept value), so the spread the trimmed interval works with; 0.05 is about ±5 %. 0 with
    fewer than 2 values.

    >>> round(spread([1.0, 1.0, 1.0, 1.0, 1.4]), 3), round(spread([0.95, 1.05]), 3)
    (0.0, 0.071)
    """
    _positive(values)
    if len(values) < 2:
        return 0.0
    return math.sqrt(_winsorized_variance(sorted(map(math.log, values))))


def rounds_spread(durations_per_process: list[list[float]]) -> float:
    """How much a process's own rounds differ: the median over processes of their rounds' `spread` (0 when no
    process has 2 rounds)."""
    spreads = [spread(rounds) for rounds in durations_per_process if len(rounds) > 1]
    return statistics.median(spreads) if spreads else 0.0


def half_width(ratio: Ratio) -> float:
    """An interval's half-width relative to its point (0.03: ±3 %)."""
    return (ratio.high - ratio.low) / 2.0 / ratio.ratio


def processes_needed(ratio: Ratio, processes: int, target: float = TARGET_HALF_WIDTH, cap: int = 10_000) -> int:
    """About how many processes a side would narrow `ratio`'s t interval (over `processes` a side) to ±`target`,
    if the spread stays what they showed: t(n-1) standard errors each side, the standard error falling as one
    over the square root of n, the t quantile falling with n too. A guide: with 3 processes the spread itself is
    known to within a factor of ~2. `cap` when even that many would not do."""
    if processes < MIN_PROCESSES or ratio.low <= 0:
        return cap
    spread = math.log(ratio.high / ratio.low) / 2 * math.sqrt(processes) / _quantile(0.975, _df(processes))
    goal = math.asinh(target)  # half_width() of a log-symmetric interval is sinh(its log half-width)
    for n in range(max(processes, MIN_PROCESSES), cap):
        if _quantile(0.975, _df(n)) * spread / math.sqrt(n) <= goal + 1e-12:
            return n
    return cap


@dataclass(frozen=True)
class Estimate:
    """How many times faster one setting is than another (`compare`)."""

    ratio: Ratio | None  # None below MIN_PROCESSES a side
    n: int  # processes a side it rests on (the fewer side), odd ones left out
    paired: bool
    left_out: tuple[int, ...] = field(default=())  # indices of the processes (pairs) left out as contended
    #: Asked for paired but the sides are (baseline, values) processes long: compared unpaired (Welch), which
    #: a reader must be told, since drift between passes no longer cancels. None when as asked.
    unpaired_sizes: tuple[int, int] | None = None

    @property
    def note(self) -> str | None:
        """What a reader of the interval must know that its numbers do not say (one line), or None."""
        if self.unpaired_sizes is None:
            return None
        a, b = self.unpaired_sizes
        return f"not paired: {a} vs {b} processes (a side lost some or stopped at a look), compared unpaired"

    @property
    def half_width(self) -> float:
        return math.inf if self.ratio is None else half_width(self.ratio)

    def processes_needed(self, target: float = TARGET_HALF_WIDTH) -> int | None:
        return None if self.ratio is None else processes_needed(self.ratio, self.n, target)


def compare(baseline: list[float], values: list[float], baseline_flags: list[bool] | None = None,
            flags: list[bool] | None = None, paired: bool = False) -> Estimate:
    """How many times faster `values` are than `baseline` (both per-process seconds: lower is faster).

    ``paired``: value i of each ran in the same pass (used only when both sides have as many). ``*_flags``: which
    processes were contended (`quiet_indices`' rule; flags that do not match the values one to one are ignored, as runs
    from before they were recorded have none)."""
    a, b = list(baseline), list(values)
    fa = list(baseline_flags) if baseline_flags is not None and len(baseline_flags) == len(a) else None
    fb = list(flags) if flags is not None and len(flags) == len(b) else None
    unpaired_sizes = (len(a), len(b)) if paired and len(a) != len(b) else None
    paired = paired and len(a) == len(b)
    left: tuple[int, ...] = ()
    if paired:
        either = [bool((fa and fa[i]) or (fb and fb[i])) for i in range(len(a))]
        keep = quiet_indices(either)
        left = tuple(i for i in range(len(a)) if i not in keep)
        a, b = [a[i] for i in keep], [b[i] for i in keep]
    else:
        if fa is not None:
            a = [a[i] for i in quiet_indices(fa)]
        if fb is not None:
            kept = quiet_indices(fb)
            left = tuple(i for i in range(len(b)) if i not in kept)
            b = [b[i] for i in kept]
    return Estimate(ratio_ci(a, b, paired=paired), min(len(a), len(b)), paired, left, unpaired_sizes)


def influential(estimate: Estimate, baseline: list[float], values: list[float], share: float = 0.5) -> int | None:
    """The one process (pair, when paired) that widened `estimate`'s interval: the index (into the values the
    estimate kept) whose leaving-out narrows the half-width by more than `share`, or None. A guide for the reader,
    never applied: the estimate keeps every quiet process."""
    if estimate.ratio is None or estimate.n < 4 or math.isinf(estimate.half_width):
        return None
    best, narrowest = None, estimate.half_width * (1.0 - share)
    for i in range(estimate.n):
        a = baseline[:i] + baseline[i + 1:] if estimate.paired else baseline
        b = values[:i] + values[i + 1:]
        ratio = ratio_ci(a, b, paired=estimate.paired)
        if ratio is not None and half_width(ratio) < narrowest:
            best, narrowest = i, half_width(ratio)
    return best


# -- results as the suite records them (extra_info: durations_per_process, contention_per_process, items_per_round) --
def sample(result: dict) -> tuple[list[float], list[bool] | None]:
    """A recorded result's per-process values and, where recorded one per process, their contention flags."""
    per = result.get("durations_per_process") or [result["durations_seconds"]]
    values = process_values(per)
    flags = [bool(c.get("contended")) for c in result.get("contention_per_process") or ()]
    return values, flags if len(flags) == len(values) else None


def throughput(result: dict) -> float:
    """A recorded result's items per second over its processes (`rate`); its median-round figure when it does
    not say how many items a round holds."""
    values, _ = sample(result)
    if result.get("items_per_round") and values:
        return rate(values, result["items_per_round"])
    return result["items_per_s_median"]


def _by_pass(baseline: dict, result: dict, paired: bool):
    """Both results' values and flags; when `paired` and both record the pass each process ran in
    (``pass_per_process``), only the passes both ran in, in pass order (adaptive effort's extra passes run two
    configurations, so the others have fewer)."""
    (a, fa), (b, fb) = sample(baseline), sample(result)
    pa, pb = baseline.get("pass_per_process"), result.get("pass_per_process")
    if not paired or not pa or not pb or len(pa) != len(a) or len(pb) != len(b) or pa == pb or None in pa + pb:
        return a, fa, b, fb
    common = sorted(set(pa) & set(pb))
    ia, ib = [pa.index(p) for p in common], [pb.index(p) for p in common]
    return ([a[i] for i in ia], [fa[i] for i in ia] if fa else None,
            [b[i] for i in ib], [fb[i] for i in ib] if fb else None)


def speedup(baseline: dict, result: dict, paired: bool = False) -> Estimate:
    """How many times faster `result` is than `baseline` (`compare` on their recorded processes; paired on the
    passes both ran in)."""
    a, fa, b, fb = _by_pass(baseline, result, paired)
    return compare(a, b, fa, fb, paired=paired)


def kept_values(baseline: dict, result: dict, estimate: Estimate) -> tuple[list[float], list[float]]:
    """The two sides' values `estimate` rests on (contended ones left out as `compare` left them out)."""
    a, fa, b, fb = _by_pass(baseline, result, estimate.paired)
    if estimate.paired and len(a) == len(b):
        keep = [i for i in range(len(a)) if i not in estimate.left_out]
        return [a[i] for i in keep], [b[i] for i in keep]
    return ([a[i] for i in quiet_indices(fa)] if fa else a), ([b[i] for i in quiet_indices(fb)] if fb else b)


def best_of(results: list[dict], default: str = "default") -> tuple[dict, dict | None, Estimate | None]:
    """Among one case's results (each a configuration, measured pass by pass): the fastest by `throughput`, what it
    is compared with (the `default` configuration; the runner-up when default is the fastest, since default over
    itself is an interval that says nothing; None when default was not measured), and that paired comparison."""
    ranked = sorted(results, key=throughput, reverse=True)
    best = ranked[0]
    baseline = next((r for r in results if r["threads"] == default), None)
    if baseline is best and len(ranked) > 1:
        baseline = ranked[1]
    if baseline is None or baseline is best:
        return best, None, None
    return best, baseline, speedup(baseline, best, paired=True)

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
* **the comparison of two settings** (`compare`): the geometric-mean ratio of their values, paired by pass where
  both ran in every pass (process i of each ran seconds apart, so the machine's drift between passes cancels),
  with a 95 % Student-t interval on the logs (scipy's ``ttest_rel``, or Welch's ``ttest_ind`` when unpaired);
  `Estimate.n` is the processes a side it rests on, after the odd ones are left out;
* **half-width** (`half_width`): relative to the point, one meaning everywhere (0.03 = ±3 %);
* **processes needed** (`processes_needed`): about how many processes a side would narrow the interval to a
  target half-width if the spread stays what was seen (t quantile included);
* **how much slower it may be** (`slowdown_bound`): the one-sided 95 % upper bound of the ratio, the same t
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

import math
import statistics
from dataclasses import dataclass, field

CONFIDENCE = 0.95
#: Fewer processes a side give no interval: one value says nothing about the spread.
MIN_PROCESSES = 2
#: The half-width a case aims for (±3 %).
TARGET_HALF_WIDTH = 0.03
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
    """The centre of processes' values (seconds per round): their geometric mean, the point every ratio here
    divides."""
    return statistics.geometric_mean(values)


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


def ratio_point(numerator: list[float], denominator: list[float]) -> float:
    """The geometric-mean ratio numerator / denominator (the point of `log_t_ratio_ci`; paired or not, the same
    number: the mean of the pairs' log ratios is the difference of the sides' mean logs).

    >>> ratio_point([2.0, 8.0], [1.0, 1.0])
    4.0
    """
    _positive(numerator, denominator)
    return math.exp(math.fsum(map(math.log, numerator)) / len(numerator)
                    - math.fsum(map(math.log, denominator)) / len(denominator))


def _positive(*sides: list[float]) -> None:
    """Ratios of geometric means need values above 0: a zero or negative time or rate is a broken measurement,
    said as one `ValueError` by every function here (not a NaN from one and a math error from another)."""
    for side in sides:
        bad = [v for v in side if not v > 0]  # also catches NaN
        if bad:
            raise ValueError(f"process values must be positive numbers, got {bad[0]!r}")


def log_t_ratio_ci(numerator: list[float], denominator: list[float], paired: bool = False,
                confidence: float = CONFIDENCE) -> Ratio | None:
    """The geometric-mean ratio numerator / denominator with a Student-t interval on the logs (``ttest_rel`` when
    ``paired``, else Welch's ``ttest_ind``). None with fewer than `MIN_PROCESSES` values a side.

    Two pairs whose ratios are 2.0 and 2.1: a bootstrap says [2.00, 2.10]; the t interval says what two pairs know.

    >>> print(log_t_ratio_ci([2.0, 2.1], [1.0, 1.0], paired=True))
    2.05x [1.50, 2.79]
    """
    import numpy as np
    from scipy import stats

    _positive(numerator, denominator)
    a = np.log(np.asarray(numerator, dtype=float))
    b = np.log(np.asarray(denominator, dtype=float))
    if paired and a.size != b.size:
        raise ValueError(f"paired samples need equal lengths, got {a.size} and {b.size}")
    if min(a.size, b.size) < MIN_PROCESSES:
        return None
    point = float(np.exp(a.mean() - b.mean()))
    d = a - b if paired else None
    if (paired and np.ptp(d) < 1e-12) or (not paired and np.ptp(a) < 1e-12 and np.ptp(b) < 1e-12):
        return Ratio(point, point, point)  # no spread at all (exact copies): nothing to widen
    test = stats.ttest_rel(a, b) if paired else stats.ttest_ind(a, b, equal_var=False)
    ci = test.confidence_interval(confidence_level=confidence)
    return Ratio(point, float(np.exp(ci.low)), float(np.exp(ci.high)))


def ratio(numerator: list[float], denominator: list[float], paired: bool = False, interval: bool = True) -> Ratio:
    """`log_t_ratio_ci`, or only its point (low = high = point) when not ``interval`` (resampled verdicts need none)
    or a side has too few values for one."""
    found = log_t_ratio_ci(numerator, denominator, paired=paired) if interval else None
    if found is None:
        point = ratio_point(numerator, denominator)
        return Ratio(point, point, point)
    return found


def slowdown_bound(baseline: list[float], current: list[float], paired: bool,
                   confidence: float = CONFIDENCE) -> float:
    """The one-sided upper confidence bound of the geometric-mean ratio current / baseline: how much slower
    `current` may be, at `confidence`. The high end of `log_t_ratio_ci`'s two-sided interval at 2·confidence - 1
    (paired t on the pairs' log ratios, or Welch's t on the logs); inf with fewer than `MIN_PROCESSES` a side.

    >>> round(slowdown_bound([1.0, 1.0, 1.0], [1.02, 1.03, 1.04], paired=True), 3)
    1.047
    """
    if min(len(baseline), len(current)) < MIN_PROCESSES:
        return math.inf
    if paired:
        # The same figure as log_t_ratio_ci(...).high, without scipy's test object: the looks and the gate's
        # check call this thousands of times.
        import numpy as np
        from scipy.stats import t

        _positive(baseline, current)
        if len(baseline) != len(current):
            raise ValueError(f"paired samples need equal lengths, got {len(baseline)} and {len(current)}")
        d = np.log(np.asarray(current, dtype=float)) - np.log(np.asarray(baseline, dtype=float))
        se = float(np.std(d, ddof=1)) / math.sqrt(d.size)
        return math.exp(float(d.mean()) + float(t.ppf(confidence, d.size - 1)) * se)
    found = log_t_ratio_ci(current, baseline, paired=False, confidence=2.0 * confidence - 1.0)
    return math.inf if found is None else found.high


def processes_to_bound(baseline: list[float], current: list[float], limit: float, paired: bool,
                       confidence: float = CONFIDENCE, cap: int = 10_000) -> int | None:
    """About how many processes (pairs, when `paired`) a side would bring `slowdown_bound` below `limit` if the
    point and the spread stay what these values show; None when the point is at or above `limit` (more processes
    narrow the bound towards the point, never below it), `cap` when even that many would not do.

    Four pairs about 1 % slower with a 2.6 % spread rule out > +4.1 %; to rule out > +3 %:

    >>> processes_to_bound([1.0, 1.0, 1.0, 1.0], [1.00, 1.04, 0.98, 1.02], 1.03, paired=True)
    7
    """
    import numpy as np
    from scipy.stats import t

    _positive(baseline, current)
    a = np.log(np.asarray(current, dtype=float))
    b = np.log(np.asarray(baseline, dtype=float))
    point = float(a.mean() - b.mean())
    goal = math.log(limit)
    if point >= goal:
        return None
    if paired and a.size == b.size:
        spread = float(np.std(a - b, ddof=1)) if a.size > 1 else math.inf
    else:  # Welch with n a side: se = sqrt((var_a + var_b) / n)
        spread = math.sqrt(sum(float(np.var(x, ddof=1)) if x.size > 1 else math.inf for x in (a, b)))
    if not math.isfinite(spread):
        return None
    for n in range(MIN_PROCESSES, cap):
        if point + float(t.ppf(confidence, n - 1)) * spread / math.sqrt(n) < goal:
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


def half_width(ratio: Ratio) -> float:
    """An interval's half-width relative to its point (0.03: ±3 %)."""
    return (ratio.high - ratio.low) / 2.0 / ratio.ratio


def processes_needed(ratio: Ratio, processes: int, target: float = TARGET_HALF_WIDTH, cap: int = 10_000) -> int:
    """About how many processes a side would narrow `ratio`'s t interval (over `processes` a side) to ±`target`,
    if the spread stays what they showed: t(n-1) standard errors each side, the standard error falling as one
    over the square root of n, the t quantile falling with n too. A guide: with 3 processes the spread itself is
    known to within a factor of ~2. `cap` when even that many would not do."""
    from scipy.stats import t

    if processes < MIN_PROCESSES or ratio.low <= 0:
        return cap
    spread = math.log(ratio.high / ratio.low) / 2 * math.sqrt(processes) / t.ppf(0.975, processes - 1)
    goal = math.asinh(target)  # half_width() of a log-symmetric interval is sinh(its log half-width)
    for n in range(max(processes, MIN_PROCESSES), cap):
        if t.ppf(0.975, n - 1) * spread / math.sqrt(n) <= goal + 1e-12:
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
    return Estimate(log_t_ratio_ci(a, b, paired=paired), min(len(a), len(b)), paired, left, unpaired_sizes)


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
        ratio = log_t_ratio_ci(a, b, paired=estimate.paired)
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


def speedup(baseline: dict, result: dict, paired: bool = False) -> Estimate:
    """How many times faster `result` is than `baseline` (`compare` on their recorded processes)."""
    (a, fa), (b, fb) = sample(baseline), sample(result)
    return compare(a, b, fa, fb, paired=paired)


def kept_values(baseline: dict, result: dict, estimate: Estimate) -> tuple[list[float], list[float]]:
    """The two sides' values `estimate` rests on (contended ones left out as `compare` left them out)."""
    (a, fa), (b, fb) = sample(baseline), sample(result)
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
